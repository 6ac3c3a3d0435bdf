package ovs

import (
	"context"
	"fmt"
	"net"
	"sort"

	"github.com/digitalocean/go-openvswitch/ovsdb"
)

// ListBridges returns the names of the bridges in the Open_vSwitch database
// served on the unix socket dbSock (e.g. /var/run/openvswitch/db.sock),
// sorted. It uses go-openvswitch's ovsdb client, which works against OVS 3.x
// for this select.
func ListBridges(ctx context.Context, dbSock string) ([]string, error) {
	if ctx == nil {
		// go-openvswitch's client panics on a nil context.
		ctx = context.Background()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", dbSock)
	if err != nil {
		return nil, fmt.Errorf("listing bridges: %w (is ovsdb-server running? pass --ovs.bridge to skip discovery)", explainDialError(dbSock, err))
	}
	client, err := ovsdb.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("listing bridges from %s: %w", dbSock, err)
	}
	defer client.Close()

	rows, err := client.Transact(ctx, "Open_vSwitch", []ovsdb.TransactOp{ovsdb.Select{Table: "Bridge"}})
	if err != nil {
		return nil, fmt.Errorf("listing bridges from %s: %w", dbSock, err)
	}
	names := make([]string, 0, len(rows))
	for _, r := range rows {
		name, ok := r["name"].(string)
		if !ok {
			return nil, fmt.Errorf("listing bridges from %s: a Bridge row has no string name (%v)", dbSock, r["name"])
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}
