// Command peer is the Go psrpc side of psrpc-rs's interop tests: it serves or
// calls MyService (proto/examples/my_service.proto, code from Go psrpc's own
// protoc-gen-psrpc) and reports what happened as JSON lines on stdout.
//
// Server: peer --bus URL --role server --name NAME --region TOPIC
//
//	prints {"event":"ready",...}, then {"event":"handled",...} per unary request
//	it runs; reads commands from stdin ("ProcessUpdate TEXT" and so on publish; EOF shuts down).
//
// Client: peer --bus URL --role client --scenario SCENARIO [flags]
//
//	prints one {"scenario":...} result line (subscribe: {"event":"subscribed"} first).
//
// Request texts drive the server: "error CODE MESSAGE" fails with that code and
// one MyResponse{Text: "detail"} detail, "metadata" answers with the request
// metadata as JSON, "sleep MS" answers after MS milliseconds; anything else is
// echoed as "TEXT from NAME". Streams echo each message and the server closes a
// stream with `aborted` after its third reply.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livekit/psrpc"
	"github.com/livekit/psrpc/pkg/client"
	"github.com/livekit/psrpc/pkg/info"
	"github.com/livekit/psrpc/pkg/metadata"
	"github.com/livekit/psrpc/pkg/rand"
	"github.com/livekit/psrpc/pkg/server"
	"github.com/livekit/psrpc/version"

	"github.com/psrpc-rs/psrpc-rs/interop/go/api"
	"github.com/psrpc-rs/psrpc-rs/interop/go/gobus"
)

// SingleServerRPC is MyService's one extra method: a topic method whose
// servers answer without a claim (the single-server topic kind, which the
// README service lacks). Registered through psrpc's generic API.
const singleServerRPC = "SingleServerRPC"

// streamCloseAfter is how many replies a server stream sends before the
// server closes it.
const streamCloseAfter = 3

var (
	out   = json.NewEncoder(os.Stdout)
	outMu sync.Mutex
)

func emit(v map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(v)
}

func main() {
	busURL := flag.String("bus", "", "nats://HOST:PORT or redis://HOST:PORT")
	role := flag.String("role", "", "server or client")
	name := flag.String("name", "go", "server name, part of every answer")
	region := flag.String("region", "eu", "topic of GetRegionStats, UpdateRegionState and SingleServerRPC")
	affinity := flag.Float64("affinity", 1, "server: IntensiveRPC affinity")
	compress := flag.Int("compress", 0, "gzip level of published payloads (0: off)")
	skipClaim := flag.Bool("skip-claim", false, "server: answer queue requests that allow it with a handling claim (WithServerSkipClaim)")
	scenario := flag.String("scenario", "single", "client: single, affinity, single-server, multi, topic, stream, subscribe, burst")
	text := flag.String("text", "hello", "client: request text")
	meta := flag.String("metadata", "", "client: request metadata, k=v,k=v")
	count := flag.Int("count", 1, "client: stream messages, or burst requests")
	timeout := flag.Duration("timeout", 3*time.Second, "client: request timeout")
	flag.Parse()

	conn, err := gobus.Connect(*busURL, *compress)
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	bus := conn.Bus
	switch *role {
	case "server":
		serve(conn, *name, *region, float32(*affinity), *skipClaim)
	case "client":
		md := metadata.Metadata{}
		for _, kv := range strings.Split(*meta, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				md[k] = v
			}
		}
		c := newCaller(bus)
		conn.Settle()
		ctx := context.Background()
		if len(md) > 0 {
			ctx = metadata.NewContextWithOutgoingMetadata(ctx, md)
		}
		result := c.run(ctx, conn, *scenario, *region, *text, *count, *timeout)
		// Frames published last (a stream's close) leave before the process does.
		conn.Settle()
		result["scenario"] = *scenario
		emit(result)
	default:
		fail(fmt.Errorf("unknown role %q", *role))
	}
}

func fail(err error) {
	emit(map[string]any{"event": "fatal", "error": err.Error()})
	os.Exit(1)
}

// ---- server ----

type service struct {
	api.UnimplementedMyServiceServer
	name     string
	affinity float32
}

func (s *service) answer(ctx context.Context, method string, req *api.MyRequest) (*api.MyResponse, error) {
	emit(map[string]any{"event": "handled", "method": method, "text": req.Text, "server": s.name})
	fields := strings.SplitN(req.Text, " ", 3)
	switch {
	case fields[0] == "error" && len(fields) == 3:
		return nil, psrpc.NewError(psrpc.ErrorCode(fields[1]), errors.New(fields[2]), &api.MyResponse{Text: "detail"})
	case fields[0] == "metadata":
		var md map[string]string
		if head := metadata.IncomingHeader(ctx); head != nil {
			md = head.Metadata
		}
		b, _ := json.Marshal(md)
		return &api.MyResponse{Text: string(b)}, nil
	case fields[0] == "sleep" && len(fields) == 2:
		ms, _ := strconv.Atoi(fields[1])
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
			emit(map[string]any{"event": "deadline", "method": method, "server": s.name})
			return nil, psrpc.NewError(psrpc.DeadlineExceeded, ctx.Err())
		}
	}
	return &api.MyResponse{Text: req.Text + " from " + s.name}, nil
}

func (s *service) NormalRPC(ctx context.Context, req *api.MyRequest) (*api.MyResponse, error) {
	return s.answer(ctx, "NormalRPC", req)
}

func (s *service) IntensiveRPC(ctx context.Context, req *api.MyRequest) (*api.MyResponse, error) {
	return s.answer(ctx, "IntensiveRPC", req)
}

func (s *service) IntensiveRPCAffinity(context.Context, *api.MyRequest) float32 {
	return s.affinity
}

func (s *service) GetStats(context.Context, *api.MyRequest) (*api.MyResponse, error) {
	return &api.MyResponse{Text: "stats of " + s.name}, nil
}

func (s *service) GetRegionStats(ctx context.Context, req *api.MyRequest) (*api.MyResponse, error) {
	return s.GetStats(ctx, req)
}

func (s *service) ExchangeUpdates(stream psrpc.ServerStream[*api.MyServerMessage, *api.MyClientMessage]) error {
	var md map[string]string
	if head := metadata.IncomingHeader(stream.Context()); head != nil {
		md = head.Metadata
	}
	emit(map[string]any{"event": "stream", "server": s.name, "metadata": md})
	replies := 0
	for range stream.Channel() {
		if err := stream.Send(&api.MyServerMessage{}); err != nil {
			return err
		}
		replies++
		if replies == streamCloseAfter {
			return psrpc.NewErrorf(psrpc.Aborted, "server closes after %d messages", streamCloseAfter)
		}
	}
	return nil
}

func serve(conn *gobus.Connection, name, region string, affinity float32, skipClaim bool) {
	bus := conn.Bus
	svc := &service{name: name, affinity: affinity}
	srv, err := api.NewMyServiceServer(svc, bus, psrpc.WithServerSkipClaim(func() bool { return skipClaim }))
	if err != nil {
		fail(err)
	}
	if err := srv.RegisterGetRegionStatsTopic(region); err != nil {
		fail(err)
	}
	sd := &info.ServiceDefinition{Name: "MyService", ID: rand.NewServerID()}
	extra := server.NewRPCServer(sd, bus)
	sd.RegisterMethod(singleServerRPC, false, false, false, true)
	handler := func(ctx context.Context, req *api.MyRequest) (*api.MyResponse, error) {
		return svc.answer(ctx, singleServerRPC, req)
	}
	if err := server.RegisterHandler(extra, singleServerRPC, []string{region}, handler, nil); err != nil {
		fail(err)
	}
	conn.Settle()
	emit(map[string]any{"event": "ready", "server": name, "version": version.Version})

	// "METHOD TEXT" per line publishes TEXT to that subscription method; EOF or
	// "quit" shuts the server down.
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		method, text, _ := strings.Cut(lines.Text(), " ")
		msg := &api.MyUpdate{Text: text}
		ctx := context.Background()
		if method == "quit" {
			break
		}
		switch method {
		case "ProcessUpdate":
			err = srv.PublishProcessUpdate(ctx, msg)
		case "UpdateState":
			err = srv.PublishUpdateState(ctx, msg)
		case "UpdateRegionState":
			err = srv.PublishUpdateRegionState(ctx, region, msg)
		default:
			err = fmt.Errorf("unknown command %q", method)
		}
		emit(map[string]any{"event": "published", "method": method, "ok": err == nil})
	}
	srv.Shutdown()
	extra.Close(false)
	emit(map[string]any{"event": "stopped"})
}

// ---- client ----

type caller struct {
	api   api.MyServiceClient
	extra *client.RPCClient
}

func newCaller(bus psrpc.MessageBus) *caller {
	c, err := api.NewMyServiceClient(bus)
	if err != nil {
		fail(err)
	}
	sd := &info.ServiceDefinition{Name: "MyService", ID: rand.NewClientID()}
	sd.RegisterMethod(singleServerRPC, false, false, false, true)
	extra, err := client.NewRPCClient(sd, bus)
	if err != nil {
		fail(err)
	}
	return &caller{api: c, extra: extra}
}

// outcome describes a unary result: {"ok":true,"text":…} or {"ok":false,"code":…,"message":…,"details":[…]}.
func outcome(res *api.MyResponse, err error) map[string]any {
	if err == nil {
		return map[string]any{"ok": true, "text": res.Text}
	}
	r := map[string]any{"ok": false, "message": err.Error()}
	var e psrpc.Error
	if errors.As(err, &e) {
		r["code"] = string(e.Code())
		// The message without the code prefix psrpc's Error() may add.
		r["message"] = e.Error()
		details := []string{}
		for _, d := range e.DetailsProto() {
			var m api.MyResponse
			if d.UnmarshalTo(&m) == nil {
				details = append(details, m.Text)
			} else {
				details = append(details, d.TypeUrl)
			}
		}
		r["details"] = details
	}
	return r
}

func (c *caller) run(ctx context.Context, conn *gobus.Connection, scenario, region, text string, count int, timeout time.Duration) map[string]any {
	req := &api.MyRequest{Text: text}
	opt := psrpc.WithRequestTimeout(timeout)
	started := time.Now()
	elapsed := func(r map[string]any) map[string]any {
		r["elapsed_ms"] = time.Since(started).Milliseconds()
		return r
	}
	switch scenario {
	case "single":
		return elapsed(outcome(c.api.NormalRPC(ctx, req, opt)))
	case "affinity":
		return elapsed(outcome(c.api.IntensiveRPC(ctx, req, opt)))
	case "single-server":
		return elapsed(outcome(client.RequestSingle[*api.MyResponse](ctx, c.extra, singleServerRPC, []string{region}, req, opt)))
	case "multi", "topic":
		var responses <-chan *psrpc.Response[*api.MyResponse]
		var err error
		if scenario == "multi" {
			responses, err = c.api.GetStats(ctx, req, opt)
		} else {
			responses, err = c.api.GetRegionStats(ctx, region, req, opt)
		}
		if err != nil {
			return outcome(nil, err)
		}
		texts, errs := []string{}, []string{}
		for r := range responses {
			if r.Err != nil {
				errs = append(errs, r.Err.Error())
			} else {
				texts = append(texts, r.Result.Text)
			}
		}
		sort.Strings(texts)
		return map[string]any{"ok": len(errs) == 0, "texts": texts, "errors": errs}
	case "stream":
		return c.stream(ctx, count, opt)
	case "subscribe":
		return c.subscribe(ctx, conn, region, timeout)
	case "burst":
		return c.burst(ctx, count, opt)
	}
	fail(fmt.Errorf("unknown scenario %q", scenario))
	return nil
}

// stream opens ExchangeUpdates, sends count messages (each answered before the
// next), then closes it; if the server closes it first, reports its error.
func (c *caller) stream(ctx context.Context, count int, opt psrpc.RequestOption) map[string]any {
	s, err := c.api.ExchangeUpdates(ctx, opt)
	if err != nil {
		return outcome(nil, err)
	}
	replies := 0
	for i := 0; i < count; i++ {
		if err := s.Send(&api.MyClientMessage{}); err != nil {
			return map[string]any{"ok": false, "replies": replies, "send_error": err.Error()}
		}
		select {
		case _, ok := <-s.Channel():
			if !ok {
				return closed(s.Err(), replies)
			}
			replies++
		case <-time.After(3 * time.Second):
			return map[string]any{"ok": false, "replies": replies, "message": "no reply"}
		}
	}
	select {
	case _, ok := <-s.Channel():
		if !ok {
			return closed(s.Err(), replies)
		}
		return map[string]any{"ok": false, "replies": replies, "message": "unexpected message"}
	case <-time.After(300 * time.Millisecond):
	}
	return map[string]any{"ok": s.Close(nil) == nil, "replies": replies}
}

func closed(err error, replies int) map[string]any {
	r := outcome(nil, err)
	r["ok"] = true
	r["server_closed"] = true
	r["replies"] = replies
	return r
}

// subscribe joins the three subscriptions, says so, and waits for one message on each.
func (c *caller) subscribe(ctx context.Context, conn *gobus.Connection, region string, timeout time.Duration) map[string]any {
	queue, err := c.api.SubscribeProcessUpdate(ctx)
	if err != nil {
		return outcome(nil, err)
	}
	state, err := c.api.SubscribeUpdateState(ctx)
	if err != nil {
		return outcome(nil, err)
	}
	regional, err := c.api.SubscribeUpdateRegionState(ctx, region)
	if err != nil {
		return outcome(nil, err)
	}
	conn.Settle()
	emit(map[string]any{"event": "subscribed"})
	texts := map[string]string{}
	for name, sub := range map[string]psrpc.Subscription[*api.MyUpdate]{
		"ProcessUpdate": queue, "UpdateState": state, "UpdateRegionState": regional,
	} {
		select {
		case m := <-sub.Channel():
			texts[name] = m.Text
		case <-time.After(timeout):
		}
		_ = sub.Close()
	}
	return map[string]any{"ok": len(texts) == 3, "texts": texts}
}

// burst sends count NormalRPC requests at once ("burst-I") and tallies who answered.
func (c *caller) burst(ctx context.Context, count int, opt psrpc.RequestOption) map[string]any {
	var mu sync.Mutex
	var wg sync.WaitGroup
	answers := map[string]string{}
	errs := []string{}
	for i := 0; i < count; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			text := fmt.Sprintf("burst-%d", i)
			res, err := c.api.NormalRPC(ctx, &api.MyRequest{Text: text}, opt)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err.Error())
			} else {
				answers[text] = res.Text
			}
		}(i)
	}
	wg.Wait()
	return map[string]any{"ok": len(errs) == 0, "answers": answers, "errors": errs}
}
