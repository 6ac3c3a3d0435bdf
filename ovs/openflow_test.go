package ovs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// cat concatenates byte slices, for building wire input in tables.
func catBytes(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func beU16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func beU32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func beU64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// fixedName returns name NUL-padded (or cut) to the 32 bytes of a table name.
func fixedName(name string) []byte {
	b := make([]byte, tableNameLen)
	copy(b, name)
	return b
}

// helloElem builds one HELLO element of type typ whose length field is n,
// with payload, padded with zeros to pad bytes in all.
func helloElem(typ, n uint16, payload []byte, pad int) []byte {
	b := catBytes(beU16(typ), beU16(n), payload)
	for len(b) < pad {
		b = append(b, 0)
	}
	return b
}

// tableStats10 builds one 64-byte OpenFlow 1.0 table-stats entry.
func tableStats10(id uint8, name []byte, maxEntries, active uint32, lookups, matches uint64) []byte {
	return catBytes([]byte{id, 0, 0, 0}, name, beU32(0x3fffff) /* wildcards */, beU32(maxEntries), beU32(active), beU64(lookups), beU64(matches))
}

// tableStats13 builds one 24-byte OpenFlow 1.3+ table-stats entry.
func tableStats13(id uint8, active uint32, lookups, matches uint64) []byte {
	return catBytes([]byte{id, 0, 0, 0}, beU32(active), beU64(lookups), beU64(matches))
}

// tableFeaturesEntry builds a table-features entry of length n (the length
// field) holding the fixed part and props after it.
func tableFeaturesEntry(n uint16, id uint8, name string, maxEntries uint32, props []byte) []byte {
	return catBytes(beU16(n), []byte{id, 0, 0, 0, 0, 0}, fixedName(name),
		beU64(^uint64(0)), beU64(^uint64(0)), beU32(3) /* config */, beU32(maxEntries), props)
}

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{Version: OpenFlow13, Type: typeMultipartReply, Length: 0x1234, XID: 0xdeadbeef}
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x04, 19, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef}
	if !bytes.Equal(b, want) {
		t.Fatalf("MarshalBinary = % x, want % x", b, want)
	}
	var got Header
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got != h {
		t.Fatalf("round trip: %+v, want %+v", got, h)
	}
}

func TestHeaderUnmarshalErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		short   bool   // error wraps ErrShort
		mention string // error text contains
	}{
		{name: "empty", in: nil, short: true, mention: "0 bytes"},
		{name: "7 bytes", in: []byte{4, 0, 0, 8, 0, 0, 0}, short: true, mention: "7 bytes"},
		{name: "length 0", in: []byte{4, 0, 0, 0, 0, 0, 0, 1}, mention: "shorter than the header"},
		{name: "length 7", in: []byte{4, 0, 0, 7, 0, 0, 0, 1}, mention: "length field 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Header
			err := h.UnmarshalBinary(tt.in)
			if err == nil {
				t.Fatalf("no error, decoded %+v", h)
			}
			if got := errors.Is(err, ErrShort); got != tt.short {
				t.Errorf("errors.Is(%v, ErrShort) = %v, want %v", err, got, tt.short)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want []byte
	}{
		{
			name: "no body",
			msg:  Message{Header: Header{Version: OpenFlow10, Type: typeEchoRequest, XID: 1}},
			want: []byte{1, 2, 0, 8, 0, 0, 0, 1},
		},
		{
			// The length field is computed, whatever the caller put there.
			name: "body, stale length",
			msg:  Message{Header: Header{Version: OpenFlow15, Type: typeEchoReply, Length: 999, XID: 0x01020304}, Body: []byte("abc")},
			want: []byte{6, 3, 0, 11, 1, 2, 3, 4, 'a', 'b', 'c'},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.msg.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, tt.want) {
				t.Fatalf("MarshalBinary = % x, want % x", b, tt.want)
			}
			var m Message
			if err := m.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if m.Length != uint16(len(b)) || m.Version != tt.msg.Version || m.Type != tt.msg.Type || m.XID != tt.msg.XID {
				t.Errorf("header %+v after round trip of %+v", m.Header, tt.msg.Header)
			}
			if !bytes.Equal(m.Body, tt.msg.Body) {
				t.Errorf("body % x, want % x", m.Body, tt.msg.Body)
			}
		})
	}
}

func TestMessageMarshalMaxLength(t *testing.T) {
	if _, err := (Message{Body: make([]byte, maxMessageLen-headerLen)}).MarshalBinary(); err != nil {
		t.Errorf("65535-byte message: %v", err)
	}
	_, err := Message{Body: make([]byte, maxMessageLen-headerLen+1)}.MarshalBinary()
	if err == nil || !strings.Contains(err.Error(), "65536 bytes") {
		t.Errorf("65536-byte message: error %v, want one naming the size", err)
	}
}

func TestMessageUnmarshalErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		short bool
	}{
		{name: "short header", in: []byte{4, 0, 0}, short: true},
		{name: "length below header", in: []byte{4, 0, 0, 4, 0, 0, 0, 0}},
		{name: "body cut", in: []byte{4, 0, 0, 12, 0, 0, 0, 0, 1, 2}, short: true},
		{name: "header only, length says more", in: []byte{4, 0, 0, 9, 0, 0, 0, 0}, short: true},
		// UnmarshalBinary takes exactly one message.
		{name: "trailing bytes", in: []byte{4, 0, 0, 8, 0, 0, 0, 0, 0xff}, short: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			err := m.UnmarshalBinary(tt.in)
			if err == nil {
				t.Fatalf("no error, decoded %+v", m)
			}
			if got := errors.Is(err, ErrShort); got != tt.short {
				t.Errorf("errors.Is(%v, ErrShort) = %v, want %v", err, got, tt.short)
			}
		})
	}
}

func TestEncodeHello(t *testing.T) {
	tests := []struct {
		name     string
		versions []Version
		want     []byte
	}{
		{name: "supported", versions: SupportedVersions, want: []byte{0, 1, 0, 8, 0, 0, 0, 0x72}},
		{name: "1.0 only", versions: []Version{OpenFlow10}, want: []byte{0, 1, 0, 8, 0, 0, 0, 0x02}},
		{name: "none", versions: nil, want: []byte{0, 1, 0, 8, 0, 0, 0, 0}},
		// Versions that do not fit the 32-bit bitmap are left out.
		{name: "out of range", versions: []Version{OpenFlow13, 40}, want: []byte{0, 1, 0, 8, 0, 0, 0, 0x10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeHello(tt.versions...)
			if !bytes.Equal(b, tt.want) {
				t.Fatalf("encodeHello(%v) = % x, want % x", tt.versions, b, tt.want)
			}
			h, err := decodeHello(b)
			if err != nil {
				t.Fatal(err)
			}
			if want := bitmapOf(tt.versions...); h.Versions != want {
				t.Errorf("decoded %v, want %v", h.Versions, want)
			}
		})
	}
}

func TestDecodeHello(t *testing.T) {
	bitmap := func(vs ...Version) []byte { return beU32(uint32(bitmapOf(vs...))) }
	tests := []struct {
		name string
		body []byte
		want versionBitmap
	}{
		{name: "no elements", body: nil, want: 0},
		{name: "bitmap", body: helloElem(1, 8, bitmap(OpenFlow10, OpenFlow15), 8), want: bitmapOf(OpenFlow10, OpenFlow15)},
		{
			name: "unknown element first, padded",
			body: catBytes(helloElem(0x7777, 5, []byte{0xff}, 8), helloElem(1, 8, bitmap(OpenFlow13), 8)),
			want: bitmapOf(OpenFlow13),
		},
		{
			name: "unknown element after",
			body: catBytes(helloElem(1, 8, bitmap(OpenFlow14), 8), helloElem(0xffff, 4, nil, 8)),
			want: bitmapOf(OpenFlow14),
		},
		{
			// A bitmap of two words (versions 32-63 in the second): the
			// first word is taken; the element is padded from 12 to 16.
			name: "two-word bitmap, then unknown",
			body: catBytes(helloElem(1, 12, catBytes(bitmap(OpenFlow13), []byte{0xff, 0xff, 0xff, 0xff}), 16), helloElem(2, 4, nil, 8)),
			want: bitmapOf(OpenFlow13),
		},
		{
			// The last element's padding may be missing.
			name: "last element unpadded",
			body: helloElem(1, 12, catBytes(bitmap(OpenFlow10), beU32(0)), 12),
			want: bitmapOf(OpenFlow10),
		},
		{
			// A bitmap element too short to hold a bitmap is ignored.
			name: "bitmap element without bitmap",
			body: helloElem(1, 4, nil, 8),
			want: 0,
		},
		{
			name: "two bitmaps, last wins",
			body: catBytes(helloElem(1, 8, bitmap(OpenFlow10), 8), helloElem(1, 8, bitmap(OpenFlow15), 8)),
			want: bitmapOf(OpenFlow15),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := decodeHello(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if h.Versions != tt.want {
				t.Errorf("versions %v, want %v", h.Versions, tt.want)
			}
		})
	}
}

func TestDecodeHelloErrors(t *testing.T) {
	tests := []struct {
		name string
		body []byte
	}{
		{name: "element length 0", body: helloElem(1, 0, beU32(0x10), 8)},
		{name: "element length 3", body: helloElem(1, 3, beU32(0x10), 8)},
		{name: "element overlong", body: helloElem(1, 16, beU32(0x10), 8)},
		{name: "3 bytes", body: []byte{0, 1, 0}},
		{name: "trailing 2 bytes", body: catBytes(helloElem(1, 8, beU32(0x10), 8), []byte{0, 1})},
		{name: "second element overlong", body: catBytes(helloElem(1, 8, beU32(0x10), 8), helloElem(2, 9, nil, 8))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := decodeHello(tt.body)
			if err == nil {
				t.Fatalf("no error, decoded %+v", h)
			}
			if !errors.Is(err, ErrShort) {
				t.Errorf("error %v does not wrap ErrShort", err)
			}
		})
	}
}

func TestVersionBitmap(t *testing.T) {
	tests := []struct {
		b       versionBitmap
		highest Version
		str     string
	}{
		{b: 0, highest: 0, str: "none"},
		{b: bitmapOf(OpenFlow10), highest: OpenFlow10, str: "OpenFlow10"},
		{b: bitmapOf(OpenFlow10, OpenFlow15), highest: OpenFlow15, str: "OpenFlow10, OpenFlow15"},
		{b: bitmapOf(SupportedVersions...), highest: OpenFlow15, str: "OpenFlow10, OpenFlow13, OpenFlow14, OpenFlow15"},
		{b: bitmapOf(2, 3), highest: 3, str: "OpenFlow11, OpenFlow12"},
		{b: bitmapOf(0, 7), highest: 7, str: "OpenFlow(0x00), OpenFlow(0x07)"},
		{b: 1 << 31, highest: 31, str: "OpenFlow(0x1f)"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if got := tt.b.highest(); got != tt.highest {
				t.Errorf("highest() = %d, want %d", got, tt.highest)
			}
			if got := tt.b.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
		})
	}
}

func TestVersionString(t *testing.T) {
	tests := []struct {
		v    Version
		want string
	}{
		{OpenFlow10, "OpenFlow10"},
		{2, "OpenFlow11"},
		{3, "OpenFlow12"},
		{OpenFlow13, "OpenFlow13"},
		{OpenFlow14, "OpenFlow14"},
		{OpenFlow15, "OpenFlow15"},
		{0, "OpenFlow(0x00)"},
		{7, "OpenFlow(0x07)"},
		{0xff, "OpenFlow(0xff)"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("Version(%d).String() = %q, want %q", uint8(tt.v), got, tt.want)
		}
	}
}

func TestDecodeError(t *testing.T) {
	// HELLO_FAILED text as OVS 3.1 sends it (from of11-refused.bin).
	const ovsText = "We support version 0x02, you support versions 0x01, 0x04, 0x05, 0x06, no common versions."
	tests := []struct {
		name    string
		body    []byte
		typ     uint16
		code    uint16
		want    string // Error() is exactly this
		notWant string // Error() does not contain this
	}{
		{
			name: "HELLO_FAILED with text",
			body: catBytes(beU16(0), beU16(0), []byte(ovsText)),
			want: "switch answered with OpenFlow error HELLO_FAILED code 0: " + ovsText,
		},
		{
			name: "HELLO_FAILED text, NUL and garbage after it",
			body: catBytes(beU16(0), beU16(1), []byte("  no common version\n\x00\x01\x02")),
			code: 1,
			want: "switch answered with OpenFlow error HELLO_FAILED code 1: no common version",
		},
		{
			name: "HELLO_FAILED without text",
			body: catBytes(beU16(0), beU16(0)),
			want: "switch answered with OpenFlow error HELLO_FAILED code 0",
		},
		{
			name:    "HELLO_FAILED with binary data",
			body:    catBytes(beU16(0), beU16(1), []byte{0x01, 0xff, 'x'}),
			code:    1,
			want:    "switch answered with OpenFlow error HELLO_FAILED code 1",
			notWant: "x",
		},
		{
			// BAD_REQUEST echoes the request; printable or not, it is not
			// shown (from of13-error.bin: BAD_TYPE for kind 0x7ffe).
			name:    "BAD_REQUEST echoing the request",
			body:    catBytes(beU16(1), beU16(2), []byte{0x04, 0x12, 0x00, 0x10, 0, 0, 0, 2, 0x7f, 0xfe, 0, 0, 0, 0, 0, 0}),
			typ:     1,
			code:    2,
			want:    "switch answered with OpenFlow error BAD_REQUEST code 2",
			notWant: ":",
		},
		{
			name:    "BAD_REQUEST with printable data",
			body:    catBytes(beU16(1), beU16(0), []byte("hello")),
			typ:     1,
			want:    "switch answered with OpenFlow error BAD_REQUEST code 0",
			notWant: "hello",
		},
		{
			name: "unnamed type",
			body: catBytes(beU16(5), beU16(7)),
			typ:  5,
			code: 7,
			want: "switch answered with OpenFlow error type 5 code 7",
		},
		{
			name: "EXPERIMENTER",
			body: catBytes(beU16(0xffff), beU16(1), beU32(0x2320)),
			typ:  0xffff,
			code: 1,
			want: "switch answered with OpenFlow error EXPERIMENTER code 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oe, err := decodeError(OpenFlow13, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if oe.Version != OpenFlow13 || oe.Type != tt.typ || oe.Code != tt.code {
				t.Errorf("decoded %+v, want type %d code %d", oe, tt.typ, tt.code)
			}
			if !bytes.Equal(oe.Data, tt.body[4:]) {
				t.Errorf("data % x, want % x", oe.Data, tt.body[4:])
			}
			got := oe.Error()
			if got != tt.want {
				t.Errorf("Error() = %q\nwant      %q", got, tt.want)
			}
			if tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Errorf("Error() = %q shows %q", got, tt.notWant)
			}
		})
	}
}

func TestDecodeErrorCopiesData(t *testing.T) {
	body := catBytes(beU16(0), beU16(0), []byte("text"))
	oe, err := decodeError(OpenFlow10, body)
	if err != nil {
		t.Fatal(err)
	}
	body[4] = 'X'
	if string(oe.Data) != "text" {
		t.Errorf("Data aliases the message body: %q", oe.Data)
	}
}

func TestDecodeErrorShort(t *testing.T) {
	for n := 0; n < 4; n++ {
		if oe, err := decodeError(OpenFlow13, make([]byte, n)); !errors.Is(err, ErrShort) {
			t.Errorf("%d bytes: got %+v, %v; want an error wrapping ErrShort", n, oe, err)
		}
	}
}

func TestMultipartRequest(t *testing.T) {
	tests := []struct {
		name string
		v    Version
		kind uint16
		want []byte
	}{
		{
			name: "1.0 table stats",
			v:    OpenFlow10, kind: multipartTable,
			// header (type 16 STATS_REQUEST, length 12), type 3, flags 0
			want: []byte{0x01, 16, 0x00, 0x0c, 0, 0, 0, 7, 0x00, 0x03, 0x00, 0x00},
		},
		{
			name: "1.3 table stats",
			v:    OpenFlow13, kind: multipartTable,
			// header (type 18 MULTIPART_REQUEST, length 16), type 3, flags 0, 4 bytes pad
			want: []byte{0x04, 18, 0x00, 0x10, 0, 0, 0, 7, 0x00, 0x03, 0x00, 0x00, 0, 0, 0, 0},
		},
		{
			name: "1.4 table features",
			v:    OpenFlow14, kind: multipartTableFeatures,
			want: []byte{0x05, 18, 0x00, 0x10, 0, 0, 0, 7, 0x00, 0x0c, 0x00, 0x00, 0, 0, 0, 0},
		},
		{
			name: "1.5 table features",
			v:    OpenFlow15, kind: multipartTableFeatures,
			want: []byte{0x06, 18, 0x00, 0x10, 0, 0, 0, 7, 0x00, 0x0c, 0x00, 0x00, 0, 0, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := multipartRequest(tt.v, tt.kind)
			m.XID = 7
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, tt.want) {
				t.Errorf("request % x\nwant    % x", b, tt.want)
			}
		})
	}
}

func TestDecodeMultipartReply(t *testing.T) {
	tests := []struct {
		name string
		v    Version
		body []byte
		want multipartPart
	}{
		{
			name: "1.0 more",
			v:    OpenFlow10,
			body: catBytes(beU16(multipartTable), beU16(1), []byte{0xaa, 0xbb}),
			want: multipartPart{Kind: multipartTable, More: true, Body: []byte{0xaa, 0xbb}},
		},
		{
			name: "1.0 last, empty",
			v:    OpenFlow10,
			body: catBytes(beU16(multipartTable), beU16(0)),
			want: multipartPart{Kind: multipartTable, Body: []byte{}},
		},
		{
			name: "1.3 last, padding skipped",
			v:    OpenFlow13,
			body: catBytes(beU16(multipartTableFeatures), beU16(0), []byte{9, 9, 9, 9}, []byte{0xcc}),
			want: multipartPart{Kind: multipartTableFeatures, Body: []byte{0xcc}},
		},
		{
			// Only bit 0 means "more"; the others are reserved.
			name: "1.5 reserved flags only",
			v:    OpenFlow15,
			body: catBytes(beU16(multipartTable), beU16(0xfffe), beU32(0)),
			want: multipartPart{Kind: multipartTable, Body: []byte{}},
		},
		{
			name: "1.4 all flags",
			v:    OpenFlow14,
			body: catBytes(beU16(multipartTable), beU16(0xffff), beU32(0)),
			want: multipartPart{Kind: multipartTable, More: true, Body: []byte{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeMultipartReply(tt.v, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != tt.want.Kind || p.More != tt.want.More || !bytes.Equal(p.Body, tt.want.Body) {
				t.Errorf("decoded %+v, want %+v", p, tt.want)
			}
		})
	}
}

func TestDecodeMultipartReplyShort(t *testing.T) {
	tests := []struct {
		v    Version
		size int
	}{
		{OpenFlow10, 0}, {OpenFlow10, 3},
		{OpenFlow13, 0}, {OpenFlow13, 4}, {OpenFlow13, 7},
		{OpenFlow15, 7},
	}
	for _, tt := range tests {
		p, err := decodeMultipartReply(tt.v, make([]byte, tt.size))
		if !errors.Is(err, ErrShort) {
			t.Errorf("%v, %d bytes: got %+v, %v; want an error wrapping ErrShort", tt.v, tt.size, p, err)
		}
	}
}

func TestDecodeTableStats(t *testing.T) {
	long := strings.Repeat("N", tableNameLen) // fills the field, no NUL
	tests := []struct {
		name string
		v    Version
		in   []byte
		want []TableStats
	}{
		{name: "1.0 empty", v: OpenFlow10, in: nil, want: []TableStats{}},
		{name: "1.3 empty", v: OpenFlow13, in: nil, want: []TableStats{}},
		{
			name: "1.0 names",
			v:    OpenFlow10,
			in: catBytes(
				tableStats10(0, fixedName("table0"), 1000000, 1, 10, 9),
				// Bytes after the NUL are not part of the name.
				tableStats10(1, catBytes([]byte("SpoofGuard\x00junk"), make([]byte, tableNameLen-15)), 1000000, 3, 1<<40, 1<<39),
				tableStats10(2, []byte(long), 0xffffffff, 0xffffffff, ^uint64(0), 0),
				tableStats10(253, fixedName(""), 0, 0, 0, 0),
			),
			want: []TableStats{
				{ID: 0, Name: "table0", MaxEntries: 1000000, HasMaxEntries: true, Active: 1, Lookups: 10, Matches: 9},
				{ID: 1, Name: "SpoofGuard", MaxEntries: 1000000, HasMaxEntries: true, Active: 3, Lookups: 1 << 40, Matches: 1 << 39},
				{ID: 2, Name: long, MaxEntries: 0xffffffff, HasMaxEntries: true, Active: 0xffffffff, Lookups: ^uint64(0)},
				{ID: 253, Name: "", HasMaxEntries: true},
			},
		},
		{
			name: "1.3",
			v:    OpenFlow13,
			in:   catBytes(tableStats13(0, 1, 100, 99), tableStats13(254, 0xffffffff, ^uint64(0), 1)),
			want: []TableStats{
				{ID: 0, Active: 1, Lookups: 100, Matches: 99},
				{ID: 254, Active: 0xffffffff, Lookups: ^uint64(0), Matches: 1},
			},
		},
		{
			name: "1.5 uses the 1.3 layout",
			v:    OpenFlow15,
			in:   tableStats13(11, 2, 5, 4),
			want: []TableStats{{ID: 11, Active: 2, Lookups: 5, Matches: 4}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTableStats(tt.v, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d entries, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDecodeTableStatsLength(t *testing.T) {
	tests := []struct {
		v    Version
		size int
	}{
		{OpenFlow10, 1}, {OpenFlow10, 24}, {OpenFlow10, 63}, {OpenFlow10, 65}, {OpenFlow10, 127},
		{OpenFlow13, 1}, {OpenFlow13, 23}, {OpenFlow13, 25}, {OpenFlow13, 64},
		{OpenFlow14, 47},
	}
	for _, tt := range tests {
		got, err := decodeTableStats(tt.v, make([]byte, tt.size))
		if !errors.Is(err, ErrShort) {
			t.Errorf("%v, %d bytes: got %d entries, %v; want an error wrapping ErrShort", tt.v, tt.size, len(got), err)
		}
	}
}

func TestDecodeTableFeatures(t *testing.T) {
	props := func(n int) []byte { return bytes.Repeat([]byte{0xee}, n) }
	tests := []struct {
		name string
		in   []byte
		want []TableFeatures
	}{
		{name: "empty", in: nil, want: nil},
		{
			name: "fixed part only",
			in:   tableFeaturesEntry(64, 0, "table0", 1000000, nil),
			want: []TableFeatures{{ID: 0, Name: "table0", MaxEntries: 1000000}},
		},
		{
			name: "properties skipped",
			in: catBytes(
				tableFeaturesEntry(64+200, 1, "SpoofGuard", 1000000, props(200)),
				tableFeaturesEntry(64+8, 2, strings.Repeat("x", 40), 5, props(8)),
				tableFeaturesEntry(64, 254, "", 0, nil),
			),
			want: []TableFeatures{
				{ID: 1, Name: "SpoofGuard", MaxEntries: 1000000},
				{ID: 2, Name: strings.Repeat("x", tableNameLen), MaxEntries: 5},
				{ID: 254, Name: "", MaxEntries: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTableFeatures(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d entries, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDecodeTableFeaturesErrors(t *testing.T) {
	ok := tableFeaturesEntry(64, 0, "table0", 1, nil)
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "1 byte", in: []byte{0}},
		{name: "63 bytes", in: ok[:63]},
		{name: "entry length 0", in: tableFeaturesEntry(0, 0, "", 0, nil)},
		{name: "entry length 63", in: tableFeaturesEntry(63, 0, "", 0, nil)},
		{name: "entry length beyond the data", in: tableFeaturesEntry(65, 0, "", 0, nil)},
		{name: "second entry cut", in: catBytes(ok, ok[:40])},
		{name: "second entry overlong", in: catBytes(ok, tableFeaturesEntry(200, 1, "", 0, make([]byte, 100)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTableFeatures(tt.in)
			if !errors.Is(err, ErrShort) {
				t.Errorf("got %+v, %v; want an error wrapping ErrShort", got, err)
			}
			if got != nil {
				t.Errorf("partial result %+v returned with the error", got)
			}
		})
	}
}

func TestUserName(t *testing.T) {
	tests := []struct {
		id   uint8
		name string
		want string
	}{
		{5, "table5", ""},
		{0, "table0", ""},
		{254, "table254", ""},
		{6, "table5", "table5"}, // someone named table 6 "table5"
		{5, "table05", "table05"},
		{5, "Table5", "Table5"},
		{1, "SpoofGuard", "SpoofGuard"},
		{1, "", ""},
	}
	for _, tt := range tests {
		if got := ownTableName(tt.id, tt.name); got != tt.want {
			t.Errorf("ownTableName(%d, %q) = %q, want %q", tt.id, tt.name, got, tt.want)
		}
	}
}
