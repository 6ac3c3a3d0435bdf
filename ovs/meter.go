package ovs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// OpenFlow 1.3+ meters: statistics (OFPMP_METER) and configuration
// (OFPMP_METER_CONFIG), whose layouts are the same in 1.3, 1.4 and 1.5.
// OpenFlow 1.0 has no meters.

const (
	multipartMeter       uint16 = 9
	multipartMeterConfig uint16 = 10

	meterAll = 0xffffffff // OFPM_ALL

	meterStatsLen     = 40 // ofp_meter_stats without its bands
	meterBandStatsLen = 16
	meterConfigLen    = 8  // ofp_meter_config without its bands
	meterBandLen      = 16 // ofp_meter_band_header and what follows it, for drop and dscp_remark

	// MeterBandDrop is the band type that drops packets (OFPMBT_DROP).
	MeterBandDrop uint16 = 1
	// MeterBandDSCPRemark remarks packets instead of dropping them.
	MeterBandDSCPRemark uint16 = 2
)

// ErrNoMeters is returned for a connection whose OpenFlow version has no
// meters (1.0).
var ErrNoMeters = errors.New("OpenFlow 1.0 has no meters")

// MeterBandStats is one band's counters: packets and bytes in excess of the
// band's rate (for a drop band: packets dropped).
type MeterBandStats struct {
	Packets uint64
	Bytes   uint64
}

// MeterStats is one meter's entry of a meter-statistics reply.
type MeterStats struct {
	ID        uint32
	FlowCount uint32
	PacketsIn uint64
	BytesIn   uint64
	Bands     []MeterBandStats // in the order of the meter's configured bands
}

// MeterBand is one configured band of a meter.
type MeterBand struct {
	Type uint16
	Rate uint32
}

// MeterConfig is one meter's configuration.
type MeterConfig struct {
	ID    uint32
	Flags uint16
	Bands []MeterBand
}

func meterRequestBody(id uint32) []byte {
	b := make([]byte, 8) // meter_id, 4 bytes padding
	binary.BigEndian.PutUint32(b[0:4], id)
	return b
}

// decodeMeterStats decodes the concatenated bodies of a meter-statistics
// reply.
func decodeMeterStats(b []byte) ([]MeterStats, error) {
	var out []MeterStats
	for len(b) > 0 {
		n, err := entryLen(b, "meter stats", meterStatsLen, 4)
		if err != nil {
			return nil, err
		}
		if (n-meterStatsLen)%meterBandStatsLen != 0 {
			return nil, fmt.Errorf("decoding meter stats: entry length %d is not a whole number of bands: %w", n, ErrShort)
		}
		m := MeterStats{
			ID:        binary.BigEndian.Uint32(b[0:4]),
			FlowCount: binary.BigEndian.Uint32(b[12:16]),
			PacketsIn: binary.BigEndian.Uint64(b[16:24]),
			BytesIn:   binary.BigEndian.Uint64(b[24:32]),
		}
		for band := b[meterStatsLen:n]; len(band) > 0; band = band[meterBandStatsLen:] {
			m.Bands = append(m.Bands, MeterBandStats{
				Packets: binary.BigEndian.Uint64(band[0:8]),
				Bytes:   binary.BigEndian.Uint64(band[8:16]),
			})
		}
		out = append(out, m)
		b = b[n:]
	}
	return out, nil
}

// decodeMeterConfigs decodes the concatenated bodies of a meter-config
// reply.
func decodeMeterConfigs(b []byte) ([]MeterConfig, error) {
	var out []MeterConfig
	for len(b) > 0 {
		n, err := entryLen(b, "meter config", meterConfigLen, 0)
		if err != nil {
			return nil, err
		}
		m := MeterConfig{
			Flags: binary.BigEndian.Uint16(b[2:4]),
			ID:    binary.BigEndian.Uint32(b[4:8]),
		}
		for bands := b[meterConfigLen:n]; len(bands) > 0; {
			if len(bands) < 12 {
				return nil, fmt.Errorf("decoding meter %d config: band of %d bytes: %w", m.ID, len(bands), ErrShort)
			}
			bl := int(binary.BigEndian.Uint16(bands[2:4]))
			if bl < 12 || bl > len(bands) {
				return nil, fmt.Errorf("decoding meter %d config: band length %d with %d bytes left: %w", m.ID, bl, len(bands), ErrShort)
			}
			m.Bands = append(m.Bands, MeterBand{
				Type: binary.BigEndian.Uint16(bands[0:2]),
				Rate: binary.BigEndian.Uint32(bands[4:8]),
			})
			bands = bands[bl:]
		}
		out = append(out, m)
		b = b[n:]
	}
	return out, nil
}

// MeterStats returns the statistics of every meter (OpenFlow 1.3+).
func (c *Conn) MeterStats(ctx context.Context) ([]MeterStats, error) {
	return readMeters(ctx, c, "meter stats", multipartMeter, decodeMeterStats)
}

// MeterConfigs returns the configuration of every meter (OpenFlow 1.3+).
func (c *Conn) MeterConfigs(ctx context.Context) ([]MeterConfig, error) {
	return readMeters(ctx, c, "meter config", multipartMeterConfig, decodeMeterConfigs)
}

// readMeters sends a meter multipart request for every meter and decodes
// the reply.
func readMeters[M any](ctx context.Context, c *Conn, what string, typ uint16, decode func([]byte) ([]M, error)) ([]M, error) {
	if c.version == OpenFlow10 {
		return nil, fmt.Errorf("reading %s from %s: %w", what, c.path, ErrNoMeters)
	}
	b, err := c.multipartWithBody(ctx, typ, meterRequestBody(meterAll))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	out, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", what, c.path, err)
	}
	return out, nil
}

// Meter is one meter of a bridge as the exporter reports it.
type Meter struct {
	ID uint32
	// Dropped is the sum of the packet counts of the meter's drop bands:
	// packets the meter dropped. Bands of other types (DSCP remark) only
	// mark packets and are not counted.
	Dropped uint64
}

// BridgeMeters is one bridge's meters, read in one OpenFlow session.
type BridgeMeters struct {
	Name    string
	Version Version
	// NoMeters is set for a bridge that allows only OpenFlow 1.0, which
	// has no meters; Meters is then empty.
	NoMeters bool
	Meters   []Meter
}

// Meters reads the meters of bridge: their configuration (to know which
// bands drop) and their statistics.
func (c *Client) Meters(ctx context.Context, bridge string) (BridgeMeters, error) {
	var out BridgeMeters
	err := c.onSession(ctx, MetersOp, bridge, func(st *bridgeState) error {
		conn := st.conn
		out = BridgeMeters{Name: bridge, Version: conn.Version()}
		if conn.Version() == OpenFlow10 {
			out.NoMeters = true
			return nil
		}
		configs, err := conn.MeterConfigs(ctx)
		if err != nil {
			return err
		}
		stats, err := conn.MeterStats(ctx)
		if err != nil {
			return err
		}
		out, err = joinMeters(out, configs, stats)
		return err
	})
	if err != nil {
		return BridgeMeters{}, err
	}
	return out, nil
}

// joinMeters sums each meter's drop bands, matching stats bands to
// configured bands by position (the order OpenFlow keeps them in).
func joinMeters(out BridgeMeters, configs []MeterConfig, stats []MeterStats) (BridgeMeters, error) {
	bands := make(map[uint32][]MeterBand, len(configs))
	for _, mc := range configs {
		bands[mc.ID] = mc.Bands
	}
	for _, s := range stats {
		cfg, ok := bands[s.ID]
		if !ok {
			// Added between the two requests: read again next time.
			continue
		}
		if len(cfg) != len(s.Bands) {
			// Modified between the two requests.
			continue
		}
		m := Meter{ID: s.ID}
		for i, b := range s.Bands {
			if cfg[i].Type == MeterBandDrop {
				m.Dropped += b.Packets
			}
		}
		out.Meters = append(out.Meters, m)
	}
	return out, nil
}
