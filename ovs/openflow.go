package ovs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// Version is an OpenFlow wire protocol version as carried in every header.
type Version uint8

// The OpenFlow versions this package speaks. 1.1 and 1.2 are left out: OVS
// bridges that allow only those are rare, and their table statistics differ
// again from both 1.0 and 1.3.
const (
	OpenFlow10 Version = 0x01
	OpenFlow13 Version = 0x04
	OpenFlow14 Version = 0x05
	OpenFlow15 Version = 0x06
)

// SupportedVersions lists the versions this package negotiates, lowest first.
var SupportedVersions = []Version{OpenFlow10, OpenFlow13, OpenFlow14, OpenFlow15}

// String returns the version as OVS names it in `protocols`, e.g. "OpenFlow13".
func (v Version) String() string {
	switch v {
	case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06:
		return fmt.Sprintf("OpenFlow1%d", int(v)-1)
	}
	return fmt.Sprintf("OpenFlow(0x%02x)", uint8(v))
}

// versionBitmap is a set of versions, bit n standing for wire version n, as
// carried in the HELLO version-bitmap element.
type versionBitmap uint32

func bitmapOf(vs ...Version) versionBitmap {
	var b versionBitmap
	for _, v := range vs {
		if v < 32 {
			b |= 1 << v
		}
	}
	return b
}

// highest returns the highest version in the bitmap, or 0 if it is empty.
func (b versionBitmap) highest() Version {
	if b == 0 {
		return 0
	}
	return Version(31 - bits.LeadingZeros32(uint32(b)))
}

func (b versionBitmap) String() string {
	var names []string
	for v := Version(0); v < 32; v++ {
		if b&(1<<v) != 0 {
			names = append(names, v.String())
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Message types used here; the values of the common ones are the same in
// every version, stats/multipart moved between 1.0 and 1.3.
const (
	typeHello            uint8 = 0
	typeError            uint8 = 1
	typeEchoRequest      uint8 = 2
	typeEchoReply        uint8 = 3
	typeStatsRequest10   uint8 = 16
	typeStatsReply10     uint8 = 17
	typeMultipartRequest uint8 = 18 // OpenFlow 1.3 and later
	typeMultipartReply   uint8 = 19 // OpenFlow 1.3 and later
)

// Multipart (stats) kinds.
const (
	multipartTable         uint16 = 3
	multipartTableFeatures uint16 = 12 // OpenFlow 1.3 and later

	multipartReplyMore uint16 = 1 // flag: more replies follow
)

const (
	headerLen = 8
	// maxMessageLen is the largest message the 16-bit length field allows.
	maxMessageLen = 0xffff

	helloElemVersionBitmap = 1

	tableStats10Len     = 64
	tableStats13Len     = 24
	tableFeaturesMinLen = 64
	tableNameLen        = 32
)

// ErrShort is wrapped by every decoding error caused by input that ends too
// early.
var ErrShort = errors.New("message too short")

// Header is the fixed 8-byte header of every OpenFlow message.
type Header struct {
	Version Version
	Type    uint8
	Length  uint16 // of the whole message, header included
	XID     uint32
}

// MarshalBinary encodes the header.
func (h Header) MarshalBinary() ([]byte, error) {
	b := make([]byte, headerLen)
	h.put(b)
	return b, nil
}

func (h Header) put(b []byte) {
	b[0] = byte(h.Version)
	b[1] = h.Type
	binary.BigEndian.PutUint16(b[2:4], h.Length)
	binary.BigEndian.PutUint32(b[4:8], h.XID)
}

// UnmarshalBinary decodes a header and checks that its length is plausible.
func (h *Header) UnmarshalBinary(b []byte) error {
	if len(b) < headerLen {
		return fmt.Errorf("decoding OpenFlow header: %d bytes, need %d: %w", len(b), headerLen, ErrShort)
	}
	h.Version = Version(b[0])
	h.Type = b[1]
	h.Length = binary.BigEndian.Uint16(b[2:4])
	h.XID = binary.BigEndian.Uint32(b[4:8])
	if h.Length < headerLen {
		return fmt.Errorf("decoding OpenFlow header: length field %d is shorter than the header itself", h.Length)
	}
	return nil
}

// Message is one OpenFlow message: its header and the body that follows.
type Message struct {
	Header
	Body []byte
}

// MarshalBinary encodes the message, setting the header's length.
func (m Message) MarshalBinary() ([]byte, error) {
	n := headerLen + len(m.Body)
	if n > maxMessageLen {
		return nil, fmt.Errorf("encoding OpenFlow message: %d bytes exceed the maximum of %d", n, maxMessageLen)
	}
	b := make([]byte, n)
	h := m.Header
	h.Length = uint16(n)
	h.put(b)
	copy(b[headerLen:], m.Body)
	return b, nil
}

// UnmarshalBinary decodes exactly one message; b must hold all of it and
// nothing more.
func (m *Message) UnmarshalBinary(b []byte) error {
	if err := m.Header.UnmarshalBinary(b); err != nil {
		return err
	}
	if int(m.Length) != len(b) {
		return fmt.Errorf("decoding OpenFlow message: length field says %d bytes, have %d: %w", m.Length, len(b), ErrShort)
	}
	m.Body = b[headerLen:]
	return nil
}

// hello is the body of a HELLO message.
type hello struct {
	// Versions holds the peer's version bitmap; zero if the peer sent none
	// (then only the header's version counts).
	Versions versionBitmap
}

func encodeHello(versions ...Version) []byte {
	// One version-bitmap element: type, length (4 + 4), one 32-bit bitmap.
	// 8 bytes, already a multiple of 8, so no padding.
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b[0:2], helloElemVersionBitmap)
	binary.BigEndian.PutUint16(b[2:4], 8)
	binary.BigEndian.PutUint32(b[4:8], uint32(bitmapOf(versions...)))
	return b
}

// decodeHello reads the hello elements; unknown elements are skipped, as the
// specification asks.
func decodeHello(body []byte) (hello, error) {
	var h hello
	for len(body) > 0 {
		if len(body) < 4 {
			return h, fmt.Errorf("decoding HELLO element: %d bytes left, need 4: %w", len(body), ErrShort)
		}
		typ := binary.BigEndian.Uint16(body[0:2])
		n := int(binary.BigEndian.Uint16(body[2:4]))
		if n < 4 || n > len(body) {
			return h, fmt.Errorf("decoding HELLO element: length %d with %d bytes left: %w", n, len(body), ErrShort)
		}
		if typ == helloElemVersionBitmap && n >= 8 {
			// Only the first 32 bits matter: versions above 31 do not exist.
			h.Versions = versionBitmap(binary.BigEndian.Uint32(body[4:8]))
		}
		// Elements are padded to a multiple of 8 bytes.
		padded := (n + 7) / 8 * 8
		if padded > len(body) {
			padded = len(body)
		}
		body = body[padded:]
	}
	return h, nil
}

// OpenFlowError is an ERROR message received from the switch.
type OpenFlowError struct {
	Version Version
	Type    uint16
	Code    uint16
	Data    []byte
}

// Error types whose names help an operator; the numbers are the same from
// 1.0 to 1.5 for these.
var errorTypeNames = map[uint16]string{
	0:      "HELLO_FAILED",
	1:      "BAD_REQUEST",
	0xffff: "EXPERIMENTER",
}

func (e *OpenFlowError) Error() string {
	name := errorTypeNames[e.Type]
	if name == "" {
		name = fmt.Sprintf("type %d", e.Type)
	}
	msg := fmt.Sprintf("switch answered with OpenFlow error %s code %d", name, e.Code)
	// HELLO_FAILED carries ASCII text; other errors echo the request.
	if e.Type == 0 {
		if text := printable(e.Data); text != "" {
			msg += ": " + text
		}
	}
	return msg
}

func decodeError(v Version, body []byte) (*OpenFlowError, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("decoding ERROR: %d bytes, need 4: %w", len(body), ErrShort)
	}
	return &OpenFlowError{
		Version: v,
		Type:    binary.BigEndian.Uint16(body[0:2]),
		Code:    binary.BigEndian.Uint16(body[2:4]),
		Data:    append([]byte(nil), body[4:]...),
	}, nil
}

// printable returns b as text if it is printable ASCII (up to a NUL).
func printable(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\n' && c != '\t' {
			return ""
		}
	}
	return strings.TrimSpace(string(b))
}

// multipartRequest builds the body of a stats (1.0) or multipart (1.3+)
// request with no request body of its own.
func multipartRequest(v Version, kind uint16) Message {
	if v == OpenFlow10 {
		b := make([]byte, 4) // type, flags
		binary.BigEndian.PutUint16(b[0:2], kind)
		return Message{Header: Header{Version: v, Type: typeStatsRequest10}, Body: b}
	}
	b := make([]byte, 8) // type, flags, 4 bytes padding
	binary.BigEndian.PutUint16(b[0:2], kind)
	return Message{Header: Header{Version: v, Type: typeMultipartRequest}, Body: b}
}

// multipartPart is one message of a multipart reply.
type multipartPart struct {
	Kind uint16
	More bool
	Body []byte
}

// decodeMultipartReply splits a stats/multipart reply into its kind, its
// "more follows" flag and its body.
func decodeMultipartReply(v Version, body []byte) (multipartPart, error) {
	hdr := 8
	if v == OpenFlow10 {
		hdr = 4
	}
	if len(body) < hdr {
		return multipartPart{}, fmt.Errorf("decoding %s multipart reply: %d bytes, need %d: %w", v, len(body), hdr, ErrShort)
	}
	return multipartPart{
		Kind: binary.BigEndian.Uint16(body[0:2]),
		More: binary.BigEndian.Uint16(body[2:4])&multipartReplyMore != 0,
		Body: body[hdr:],
	}, nil
}

// TableStats is one table's entry of a table-statistics reply.
type TableStats struct {
	ID uint8
	// Name is the table's name. Only OpenFlow 1.0 replies carry names; it
	// is empty for later versions and for tables without a name of their own.
	Name    string
	Active  uint32 // flows in the table
	Lookups uint64 // packets looked up in the table
	Matches uint64 // packets that hit a flow
	// MaxEntries is the table's flow limit as the switch reports it; only
	// OpenFlow 1.0 table statistics carry it (HasMaxEntries).
	MaxEntries    uint32
	HasMaxEntries bool
}

// decodeTableStats decodes the concatenated bodies of a table-statistics
// reply.
func decodeTableStats(v Version, b []byte) ([]TableStats, error) {
	size := tableStats13Len
	if v == OpenFlow10 {
		size = tableStats10Len
	}
	if len(b)%size != 0 {
		return nil, fmt.Errorf("decoding %s table stats: %d bytes is not a multiple of the %d-byte entry: %w", v, len(b), size, ErrShort)
	}
	out := make([]TableStats, 0, len(b)/size)
	for ; len(b) > 0; b = b[size:] {
		e := b[:size]
		if v == OpenFlow10 {
			out = append(out, TableStats{
				ID:            e[0],
				Name:          cString(e[4 : 4+tableNameLen]),
				MaxEntries:    binary.BigEndian.Uint32(e[40:44]),
				HasMaxEntries: true,
				Active:        binary.BigEndian.Uint32(e[44:48]),
				Lookups:       binary.BigEndian.Uint64(e[48:56]),
				Matches:       binary.BigEndian.Uint64(e[56:64]),
			})
			continue
		}
		out = append(out, TableStats{
			ID:      e[0],
			Active:  binary.BigEndian.Uint32(e[4:8]),
			Lookups: binary.BigEndian.Uint64(e[8:16]),
			Matches: binary.BigEndian.Uint64(e[16:24]),
		})
	}
	return out, nil
}

// TableFeatures is the part of a table-features entry (OpenFlow 1.3+) that
// matters here: the name and the flow limit. The properties that follow are
// skipped.
type TableFeatures struct {
	ID         uint8
	Name       string
	MaxEntries uint32
}

// decodeTableFeatures decodes the concatenated bodies of a table-features
// reply. The fixed part has the same layout in 1.3, 1.4 and 1.5 for the
// fields read here.
func decodeTableFeatures(b []byte) ([]TableFeatures, error) {
	var out []TableFeatures
	for len(b) > 0 {
		n, err := entryLen(b, "table features", tableFeaturesMinLen, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, TableFeatures{
			ID:         b[2],
			Name:       cString(b[8 : 8+tableNameLen]),
			MaxEntries: binary.BigEndian.Uint32(b[60:64]),
		})
		b = b[n:]
	}
	return out, nil
}

// entryLen returns the length of the first entry of a multipart reply body
// whose entries hold their own length in a uint16 at offset lenAt and are
// at least minLen bytes long.
func entryLen(b []byte, what string, minLen, lenAt int) (int, error) {
	if len(b) < minLen {
		return 0, fmt.Errorf("decoding %s: %d bytes left, need %d: %w", what, len(b), minLen, ErrShort)
	}
	n := int(binary.BigEndian.Uint16(b[lenAt : lenAt+2]))
	if n < minLen || n > len(b) {
		return 0, fmt.Errorf("decoding %s: entry length %d with %d bytes left: %w", what, n, len(b), ErrShort)
	}
	return n, nil
}

// cString returns the NUL-terminated string at the start of b.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
