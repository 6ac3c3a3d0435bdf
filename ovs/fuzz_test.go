package ovs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for every decoder of bytes that come from the switch. Seeds
// are real messages from the recorded OVS 3.1 sessions; inputs the fuzzer
// finds interesting are kept in testdata/fuzz/FuzzXxx and replayed by every
// `go test`.

// fuzzFixtures are the recorded sessions small enough to seed whole; the
// table-features sessions are 1.2 MB, which slows mutation down to a crawl,
// so only their first messages are used.
var fuzzFixtures = []string{"of10-stats.bin", "of10-error.bin", "of13-error.bin", "of11-refused.bin"}

// seedMessages splits a recorded stream into messages, stopping at the first
// one that does not decode (unlike splitMessages it needs no *testing.T).
func seedMessages(b []byte) []Message {
	var out []Message
	for len(b) >= headerLen {
		var h Header
		if h.UnmarshalBinary(b) != nil || int(h.Length) > len(b) {
			break
		}
		var m Message
		if m.UnmarshalBinary(b[:h.Length]) != nil {
			break
		}
		out = append(out, m)
		b = b[h.Length:]
	}
	return out
}

// fuzzSeeds returns the messages of every fixture, with at most max
// messages from each.
func fuzzSeeds(f *testing.F, max int) []Message {
	f.Helper()
	var out []Message
	for _, name := range append(fuzzFixtures, "of13-stats-features.bin", "of15-stats-features.bin") {
		ms := seedMessages(readFixture(f, fixtureDir, name))
		if len(ms) > max {
			ms = ms[:max]
		}
		out = append(out, ms...)
	}
	return out
}

// replyBodies returns the concatenated multipart bodies of kind in the
// recorded reply, as the client hands them to a decoder, cut to at most max
// bytes.
func replyBodies(f *testing.F, name string, kind uint16, max int) []byte {
	f.Helper()
	var out []byte
	for _, m := range seedMessages(readFixture(f, fixtureDir, name)) {
		if m.Type != typeMultipartReply && !(m.Version == OpenFlow10 && m.Type == typeStatsReply10) {
			continue
		}
		if p, err := decodeMultipartReply(m.Version, m.Body); err == nil && p.Kind == kind {
			out = append(out, p.Body...)
		}
	}
	if len(out) == 0 {
		f.Fatalf("%s has no reply of kind %d", name, kind)
	}
	return out[:min(len(out), max)]
}

func FuzzHeader(f *testing.F) {
	for _, m := range fuzzSeeds(f, 4) {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 512)])
	}
	f.Add([]byte{4, 0, 0, 7, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Header
		if err := h.UnmarshalBinary(b); err == nil {
			if h.Length < headerLen {
				t.Fatalf("accepted length %d", h.Length)
			}
			out, _ := h.MarshalBinary()
			if string(out) != string(b[:headerLen]) {
				t.Fatalf("header round trip: % x, want % x", out, b[:headerLen])
			}
		}
		var m Message
		if err := m.UnmarshalBinary(b); err == nil {
			if int(m.Length) != len(b) || len(m.Body) != len(b)-headerLen {
				t.Fatalf("length %d, body %d bytes, from %d bytes", m.Length, len(m.Body), len(b))
			}
			out, err := m.MarshalBinary()
			if err != nil || string(out) != string(b) {
				t.Fatalf("message round trip: % x, %v; want % x", out, err, b)
			}
		}
	})
}

func FuzzDecodeHello(f *testing.F) {
	for _, m := range fuzzSeeds(f, 1) {
		if m.Type == typeHello {
			f.Add(m.Body)
		}
	}
	f.Add(encodeHello(SupportedVersions...))
	f.Add(catBytes(helloElem(0x7777, 5, []byte{0xff}, 8), helloElem(1, 12, beU32(0x72), 16)))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHello(b)
		if err != nil {
			if !errors.Is(err, ErrShort) {
				t.Fatalf("error %v does not wrap ErrShort", err)
			}
			return
		}
		_ = h.Versions.String()
		if h.Versions != 0 && h.Versions&(1<<h.Versions.highest()) == 0 {
			t.Fatalf("highest of %b is %d", h.Versions, h.Versions.highest())
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	for _, name := range fuzzFixtures {
		for _, m := range seedMessages(readFixture(f, fixtureDir, name)) {
			if m.Type == typeError {
				f.Add(uint8(m.Version), m.Body)
			}
		}
	}
	f.Add(uint8(OpenFlow13), catBytes(beU16(0), beU16(0), []byte("text\x00\x01")))
	f.Fuzz(func(t *testing.T, v uint8, b []byte) {
		oe, err := decodeError(Version(v), b)
		if err != nil {
			if !errors.Is(err, ErrShort) || len(b) >= 4 {
				t.Fatalf("%d bytes: %v", len(b), err)
			}
			return
		}
		if string(oe.Data) != string(b[4:]) {
			t.Fatalf("data % x, want % x", oe.Data, b[4:])
		}
		// The switch's bytes reach logs only as printable text.
		msg := oe.Error()
		if !utf8.ValidString(msg) {
			t.Fatalf("Error() is not UTF-8: %q", msg)
		}
		for _, c := range msg {
			if c < 0x20 && c != '\n' && c != '\t' || c > 0x7e {
				t.Fatalf("Error() carries %q: %q", c, msg)
			}
		}
		if oe.Type != 0 && strings.Contains(msg, ": ") {
			t.Fatalf("Error() shows the data of a type %d error: %q", oe.Type, msg)
		}
	})
}

func FuzzDecodeMultipartReply(f *testing.F) {
	for _, m := range fuzzSeeds(f, 3) {
		if m.Type == typeMultipartReply || m.Type == typeStatsReply10 {
			f.Add(uint8(m.Version), m.Body[:min(len(m.Body), 256)])
		}
	}
	f.Fuzz(func(t *testing.T, v uint8, b []byte) {
		p, err := decodeMultipartReply(Version(v), b)
		hdr := 8
		if Version(v) == OpenFlow10 {
			hdr = 4
		}
		if err != nil {
			if !errors.Is(err, ErrShort) || len(b) >= hdr {
				t.Fatalf("%d bytes: %v", len(b), err)
			}
			return
		}
		if len(p.Body) != len(b)-hdr {
			t.Fatalf("body %d bytes from %d", len(p.Body), len(b))
		}
	})
}

func FuzzDecodeTableStats(f *testing.F) {
	f.Add(uint8(OpenFlow10), replyBodies(f, "of10-stats.bin", multipartTable, 4*tableStats10Len))
	f.Add(uint8(OpenFlow13), replyBodies(f, "of13-stats-features.bin", multipartTable, 4*tableStats13Len))
	f.Add(uint8(OpenFlow15), replyBodies(f, "of15-stats-features.bin", multipartTable, 3*tableStats13Len+5))
	f.Fuzz(func(t *testing.T, v uint8, b []byte) {
		size := tableStats13Len
		if Version(v) == OpenFlow10 {
			size = tableStats10Len
		}
		ts, err := decodeTableStats(Version(v), b)
		if err != nil {
			if !errors.Is(err, ErrShort) || len(b)%size == 0 {
				t.Fatalf("%d bytes: %v", len(b), err)
			}
			return
		}
		if len(ts) != len(b)/size {
			t.Fatalf("%d entries from %d bytes of %d-byte entries", len(ts), len(b), size)
		}
		for i, s := range ts {
			if s.ID != b[i*size] {
				t.Fatalf("entry %d: id %d, want %d", i, s.ID, b[i*size])
			}
			if len(s.Name) > tableNameLen || strings.IndexByte(s.Name, 0) >= 0 {
				t.Fatalf("entry %d: name %q", i, s.Name)
			}
			if s.HasMaxEntries != (Version(v) == OpenFlow10) || (Version(v) != OpenFlow10 && s.Name != "") {
				t.Fatalf("entry %d of %v: %+v", i, Version(v), s)
			}
		}
	})
}

func FuzzDecodeTableFeatures(f *testing.F) {
	f.Add(replyBodies(f, "of13-stats-features.bin", multipartTableFeatures, 8192))
	f.Add(replyBodies(f, "of15-stats-features.bin", multipartTableFeatures, 3000))
	f.Add(tableFeaturesEntry(64, 1, "SpoofGuard", 1000000, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		tf, err := decodeTableFeatures(b)
		if err != nil {
			if !errors.Is(err, ErrShort) {
				t.Fatalf("error %v does not wrap ErrShort", err)
			}
			if tf != nil {
				t.Fatalf("entries returned with an error")
			}
			return
		}
		if len(tf) > len(b)/tableFeaturesMinLen {
			t.Fatalf("%d entries from %d bytes", len(tf), len(b))
		}
		for i, e := range tf {
			if len(e.Name) > tableNameLen || strings.IndexByte(e.Name, 0) >= 0 {
				t.Fatalf("entry %d: name %q", i, e.Name)
			}
		}
	})
}

// FuzzSession plays arbitrary bytes as the switch's side of a whole session:
// handshake, table stats, table features. It must end, with a result or an
// error, and never panic.
func FuzzSession(f *testing.F) {
	for _, name := range fuzzFixtures {
		f.Add(readFixture(f, fixtureDir, name))
	}
	// The handshake, the stats and the start of the features reply of the
	// big sessions.
	for _, name := range []string{"of13-stats-features.bin", "of15-stats-features.bin"} {
		var b []byte
		for _, m := range seedMessages(readFixture(f, fixtureDir, name))[:4] {
			mb, _ := m.MarshalBinary()
			b = append(b, mb...)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			c, err := newConn(ctx, newReplayConn(b), "fuzz")
			if err != nil {
				return
			}
			known := false
			for _, v := range SupportedVersions {
				known = known || v == c.Version()
			}
			if !known {
				t.Errorf("negotiated %v", c.Version())
			}
			if ts, err := c.TableStats(ctx); err == nil && len(ts) > len(b)/tableStats13Len {
				t.Errorf("%d tables from %d bytes", len(ts), len(b))
			}
			if c.Version() != OpenFlow10 {
				if tf, err := c.TableFeatures(ctx); err == nil && len(tf) > len(b)/tableFeaturesMinLen {
					t.Errorf("%d table features from %d bytes", len(tf), len(b))
				}
			}
			c.Close()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("session on %d bytes did not end", len(b))
		}
	})
}
