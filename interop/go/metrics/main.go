// Command metrics records psrpc metrics events into LiveKit's Go psrpc
// Prometheus metrics (github.com/livekit/protocol/rpc) and prints what a
// Prometheus server scraping the process would receive for them.
//
// Events come on stdin, one JSON object a line, and go straight to the
// observer (no bus, no calls), so durations and sizes are exactly those
// given:
//
//	{"event": "unary", "role": "client", "service": "S", "method": "M", "micros": 10900, "error": "", "rx": 3, "tx": 5}
//
// event is one of unary, multi, stream_send, stream_recv, stream_open,
// stream_close, received, expired, claim; error is a psrpc error code (empty
// for success); multi takes responses and errors, stream_send and
// stream_recv take bytes, claim takes outcome (granted, lost_to_peer,
// timed_out, skipped).
//
// stdout gets the body promhttp serves for Prometheus 2.x's scrape Accept
// header, holding only the livekit_psrpc_* families; stderr gets the
// Content-Type it negotiated.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/livekit/protocol/rpc"
	"github.com/livekit/psrpc"
	"github.com/livekit/psrpc/pkg/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// What Prometheus 2.x sends when it scrapes a target.
const prometheus2Accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

type event struct {
	Event     string `json:"event"`
	Role      string `json:"role"`
	Service   string `json:"service"`
	Method    string `json:"method"`
	Micros    int64  `json:"micros"`
	Error     string `json:"error"`
	Rx        int    `json:"rx"`
	Tx        int    `json:"tx"`
	Responses int    `json:"responses"`
	Errors    int    `json:"errors"`
	Bytes     int    `json:"bytes"`
	Outcome   string `json:"outcome"`
}

func main() {
	constLabels := flag.String("const-labels", "", "constant labels, name=value,name=value")
	flag.Parse()

	labels := prometheus.Labels{}
	if *constLabels != "" {
		for _, pair := range strings.Split(*constLabels, ",") {
			name, value, _ := strings.Cut(pair, "=")
			labels[name] = value
		}
	}
	rpc.InitPSRPCStats(labels)

	var observer rpc.PSRPCMetricsObserver
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		if strings.TrimSpace(scanner.Text()) == "" {
			continue
		}
		var e event
		if err := json.Unmarshal(scanner.Bytes(), &e); err != nil {
			fail("bad event %q: %v", scanner.Text(), err)
		}
		record(observer, e)
	}
	if err := scanner.Err(); err != nil {
		fail("read stdin: %v", err)
	}

	// Only psrpc's families: the default registry also holds the Go runtime's.
	psrpcOnly := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		families, err := prometheus.DefaultGatherer.Gather()
		kept := families[:0]
		for _, family := range families {
			if strings.HasPrefix(family.GetName(), "livekit_psrpc_") {
				kept = append(kept, family)
			}
		}
		return kept, err
	})
	request := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	request.Header.Set("Accept", prometheus2Accept)
	response := httptest.NewRecorder()
	promhttp.HandlerFor(psrpcOnly, promhttp.HandlerOpts{}).ServeHTTP(response, request)
	if response.Code != http.StatusOK {
		fail("promhttp answered %d: %s", response.Code, response.Body.String())
	}
	fmt.Fprintln(os.Stderr, response.Header().Get("Content-Type"))
	os.Stdout.Write(response.Body.Bytes())
}

func record(o rpc.PSRPCMetricsObserver, e event) {
	role := middleware.ClientRole
	if e.Role == "server" {
		role = middleware.ServerRole
	}
	info := psrpc.RPCInfo{Service: e.Service, Method: e.Method}
	duration := time.Duration(e.Micros) * time.Microsecond
	var err error
	if e.Error != "" {
		err = psrpc.NewErrorf(psrpc.ErrorCode(e.Error), "recorded %s error", e.Error)
	}
	switch e.Event {
	case "unary":
		o.OnUnaryRequest(role, info, duration, err, e.Rx, e.Tx)
	case "multi":
		o.OnMultiRequest(role, info, duration, e.Responses, e.Errors, e.Rx, e.Tx)
	case "stream_send":
		o.OnStreamSend(role, info, duration, err, e.Bytes)
	case "stream_recv":
		o.OnStreamRecv(role, info, err, e.Bytes)
	case "stream_open":
		o.OnStreamOpen(role, info)
	case "stream_close":
		o.OnStreamClose(role, info)
	case "received":
		o.OnRequestReceived(info)
	case "expired":
		o.OnRequestExpired(info, duration)
	case "claim":
		outcomes := map[string]psrpc.ClaimOutcome{
			"granted":      psrpc.ClaimGranted,
			"lost_to_peer": psrpc.ClaimLostToPeer,
			"timed_out":    psrpc.ClaimTimedOut,
			"skipped":      psrpc.ClaimSkipped,
		}
		outcome, ok := outcomes[e.Outcome]
		if !ok {
			fail("unknown claim outcome %q", e.Outcome)
		}
		o.OnClaim(info, outcome, duration)
	default:
		fail("unknown event %q", e.Event)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
