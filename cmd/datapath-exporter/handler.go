package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/promhttp/zstd" // offer zstd besides gzip
	"golang.org/x/sync/singleflight"
)

// encodeMargin is what the metrics handler allows beyond the longest
// collector deadline for gathering the other metrics and encoding.
const encodeMargin = 5 * time.Second

// compressions are offered in this order of preference: a client that
// accepts any coding (`*`) gets gzip, the one every scraper decodes.
var compressions = []promhttp.Compression{promhttp.Gzip, promhttp.Zstd, promhttp.Identity}

// newMetricsHandler serves g with client_golang's handler, instrumented
// with promhttp_metric_handler_* metrics registered in reg:
//   - a request identical to one in flight (same query, Accept and
//     Accept-Encoding) waits for that one's response and gets its bytes
//     (sharedResponses); different parallel requests share one gathering
//     (CoalesceGather) and each encodes in the format and coding it asked
//     for;
//   - with maxRequests > 0, requests beyond that many in flight are
//     answered 503 at once, as node_exporter's --web.max-requests does
//     (a request that shares another's response does not count);
//   - a request not answered within timeout gets a 503: the Exporter
//     bounds every collector by its own deadline, so this only ends a
//     scrape that something (a bug) keeps longer;
//   - a gathering error (an inconsistent metric) is logged and what could
//     be gathered is served: one bad metric must not hide the others.
//
// OpenMetrics is not offered: Prometheus would negotiate it first, and it
// changes the identity of existing series (a quantile="0" label becomes
// "0.0"), which dashboards and recording rules depend on.
func newMetricsHandler(reg prometheus.Registerer, g prometheus.Gatherer, logger *slog.Logger, maxRequests int, timeout time.Duration) http.Handler {
	return lowerAcceptEncoding(promhttp.InstrumentMetricHandler(reg,
		&sharedResponses{next: libraryHandler(reg, g, logger, maxRequests, timeout)}))
}

// libraryHandler is client_golang's handler as newMetricsHandler sets it.
func libraryHandler(reg prometheus.Registerer, g prometheus.Gatherer, logger *slog.Logger, maxRequests int, timeout time.Duration) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg,
		OfferedCompressions: compressions,
		MaxRequestsInFlight: maxRequests,
		CoalesceGather:      true,
		Timeout:             timeout,
	})
}

// sharedResponses lets requests that arrive while the response to an
// identical request is being made wait for it and get the same bytes, so a
// storm of parallel scrapes costs one encoding and compression, not one
// each: with client_golang's handler alone, 200 clients × 5 scrapes took 3×
// the wall time and 1.45× the peak RSS (docs/library-choices.md). A request
// that arrives after a response is done starts a new one: nothing is
// served stale.
type sharedResponses struct {
	next   http.Handler
	flight singleflight.Group
}

func (s *sharedResponses) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.URL.RawQuery + "\x00" + strings.Join(r.Header.Values("Accept"), ",") + "\x00" + strings.Join(r.Header.Values("Accept-Encoding"), ",")
	v, _, _ := s.flight.Do(key, func() (any, error) {
		rec := &recordedResponse{header: http.Header{}}
		// The response is for every request waiting: the first one's
		// client going away must not cut it short.
		s.next.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		rec.WriteHeader(http.StatusOK) // if nothing was written
		return rec, nil
	})
	rec := v.(*recordedResponse)
	h := w.Header()
	for k, vs := range rec.header {
		h[k] = slices.Clone(vs)
	}
	h.Set("Content-Length", strconv.Itoa(rec.body.Len()))
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// recordedResponse is a response kept to be sent to several requests.
type recordedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rr *recordedResponse) Header() http.Header { return rr.header }

func (rr *recordedResponse) WriteHeader(code int) {
	if rr.status == 0 {
		rr.status = code
	}
}

func (rr *recordedResponse) Write(p []byte) (int, error) {
	rr.WriteHeader(http.StatusOK)
	return rr.body.Write(p)
}

// lowerAcceptEncoding lower-cases the request's Accept-Encoding before h
// sees it: content codings are case-insensitive (RFC 9110, 8.4.1), and
// client_golang v1.25.0 matches them as written, so "GZIP" would get an
// uncompressed reply.
func lowerAcceptEncoding(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values("Accept-Encoding")
		for _, v := range values {
			if v != strings.ToLower(v) {
				r = r.Clone(r.Context())
				lowered := make([]string, len(values))
				for i, v := range values {
					lowered[i] = strings.ToLower(v)
				}
				r.Header["Accept-Encoding"] = lowered
				break
			}
		}
		h.ServeHTTP(w, r)
	})
}
