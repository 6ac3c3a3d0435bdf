package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/sync/singleflight"
)

// metricsHandler serves the registry's metrics. Requests that arrive while a
// response is being made for the same format and compression wait for it and
// get the same bytes: a storm of parallel scrapes costs one gathering and one
// encoding, not one each (the collectors already share one run; promhttp's
// handler would still encode and gzip per request). A request that arrives
// after a response is done starts a new one, so nothing is served stale.
//
// With maxRequests > 0, requests beyond that many in flight are answered 503
// at once, as node_exporter's --web.max-requests does.
type metricsHandler struct {
	gatherer prometheus.Gatherer
	logger   *slog.Logger
	inFlight chan struct{} // nil: no limit
	flight   singleflight.Group
}

// acceptedFormats are the formats served, in order of preference: the text
// format and protobuf, as promhttp's handler serves without OpenMetrics.
var acceptedFormats = expfmt.DefaultAcceptedFormats()

// response is one encoded scrape, shared by the requests that waited for it.
type response struct {
	contentType string
	gzipped     bool
	body        []byte
}

func newMetricsHandler(g prometheus.Gatherer, logger *slog.Logger, maxRequests int) *metricsHandler {
	h := &metricsHandler{gatherer: g, logger: logger}
	if maxRequests > 0 {
		h.inFlight = make(chan struct{}, maxRequests)
	}
	return h
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			http.Error(w, fmt.Sprintf("limit of concurrent requests reached (%d), try again later", cap(h.inFlight)), http.StatusServiceUnavailable)
			return
		}
	}
	format := expfmt.NegotiateAccept(r.Header, acceptedFormats...)
	gzipped := acceptsGzip(r.Header)
	key := string(format) + "|" + strconv.FormatBool(gzipped)
	v, err, _ := h.flight.Do(key, func() (any, error) { return h.encode(format, gzipped) })
	if err != nil {
		h.logger.Error("encoding metrics", "err", err)
		http.Error(w, "encoding metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	resp := v.(*response)
	w.Header().Set("Content-Type", resp.contentType)
	if resp.gzipped {
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	_, _ = w.Write(resp.body)
}

// encode gathers and encodes once. A gathering error (an inconsistent
// metric) is logged and what could be gathered is served, as promhttp's
// ContinueOnError does: one bad metric must not hide the others.
func (h *metricsHandler) encode(format expfmt.Format, gzipped bool) (*response, error) {
	mfs, err := h.gatherer.Gather()
	if err != nil {
		h.logger.Error("gathering metrics", "err", err)
	}
	// Gzipped, the encoder writes into a kept buffer and the whole of it
	// is compressed in one write: the encoder's many small writes straight
	// into the gzip writer cost more than the compression itself.
	var buf bytes.Buffer
	out := &buf
	if gzipped {
		out = encodeBufs.Get().(*bytes.Buffer)
		out.Reset()
		defer encodeBufs.Put(out)
	}
	enc := expfmt.NewEncoder(out, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", mf.GetName(), err)
		}
	}
	if closer, ok := enc.(expfmt.Closer); ok {
		if err := closer.Close(); err != nil {
			return nil, err
		}
	}
	if gzipped {
		zw := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(zw)
		zw.Reset(&buf)
		if _, err := zw.Write(out.Bytes()); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}
	return &response{contentType: string(format), gzipped: gzipped, body: buf.Bytes()}, nil
}

// gzipWriters keeps gzip writers between scrapes: a new one allocates
// about 1 MiB of compressor state, which the profile of a scrape with
// every collector off showed as its largest allocation (as promhttp does).
// They compress at gzip.BestSpeed: for the default scrape's 18 KiB of text
// it took a third of the CPU of the default level for a body 13% larger
// (4.3 KiB instead of 3.8 KiB), and gzip was the largest CPU cost of a
// scrape (docs/bench/analysis.md).
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	return zw
}}

// encodeBufs keeps the text of a scrape to be gzipped between scrapes.
var encodeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip
// (and does not refuse it with q=0).
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.TrimSpace(coding) != "gzip" {
				continue
			}
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
