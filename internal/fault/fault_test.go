package fault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
)

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Kind
	}{
		{nil, Unknown},
		{errors.New("x"), Unknown},
		{fmt.Errorf("dial: %w", syscall.ENOENT), NotFound},
		{&os.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, NotFound},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), Refused},
		{fmt.Errorf("dial: %w", syscall.EACCES), Permission},
		{fmt.Errorf("netlink: %w", syscall.EPERM), Permission},
		{context.DeadlineExceeded, Timeout},
		{os.ErrDeadlineExceeded, Timeout},
		{io.EOF, Closed},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), Closed},
		{New(Protocol, "decode", "/s", io.EOF), Protocol},
		{fmt.Errorf("outer: %w", New(Remote, "get", "", errors.New("boom"))), Remote},
		{New(Unknown, "x", "", syscall.ENOENT), NotFound},
	} {
		if got := KindOf(tc.err); got != tc.want {
			t.Errorf("KindOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestErrorText(t *testing.T) {
	e := Wrap("connect", "/run/x.sock", syscall.ECONNREFUSED)
	if got, want := e.Error(), "connect /run/x.sock: connection refused"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, syscall.ECONNREFUSED) || KindOf(e) != Refused || OpOf(e) != "connect" {
		t.Errorf("Wrap lost the cause, kind or op: %#v", e)
	}
	if Wrap("x", "", nil) != nil {
		t.Error("Wrap(nil) != nil")
	}
	if Kind(99).String() != "unknown" || Timeout.String() != "timeout" {
		t.Error("Kind.String")
	}
}
