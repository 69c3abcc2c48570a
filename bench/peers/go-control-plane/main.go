// The reference peer of shardvoy's bench: go-control-plane's own xDS server (sotw and delta,
// pkg/server/v3) over its SnapshotCache with ADS ordering on, serving the very resources shardvoy
// serves for the bench group, read from a fixture that shardvoy's bench writes out (the encoded
// resources of each type, base64, from shardvoy's snapshot).
//
//	shardvoy-gcp-peer -fixture FILE [-listen 127.0.0.1:0] [-track-eds]
//
// It prints one JSON line {"ready":{"grpc":"127.0.0.1:PORT",...}} on stdout once it serves, then
// reads requests from stdin, one JSON object a line, {"id":N,"type":T,"payload":{...}}, and answers
// each with one line {"id":N,"ok":true,"result":{...}} (or "ok":false,"error":"..."):
//
//	change {version, resources: {typeUrl: [base64, ...]}}
//	    -> {t0, writtenAt, nodes}: a new snapshot made of these resources (the changed load
//	       assignment among them), set for every node seen so far and for the fixture's nodes;
//	       t0 is taken before the resources are decoded, writtenAt after the last SetSnapshot
//	       returned (every watch has been handed its response)
//	stats {gc?} -> {rssBytes, heapUsedBytes, cpuMs, goroutines}: gc runs a full GC and returns
//	       freed memory to the OS first (runtime.GC + debug.FreeOSMemory)
//	ping  {} -> {now}: the wall clock, for the caller to check the two clocks agree
//	streams {} -> count of open streams
//	eds {} -> [{peer, sent, acked, ackedAt}]: per open SotW stream, the client's address, the
//	       version of the last EDS response sent and of the last one it ACKed, and when that ACK
//	       arrived (only with -track-eds, which scenario 6 sets to see real Envoys converge; the
//	       fan-out runs without that bookkeeping)
//
// Times are absolute milliseconds since the Unix epoch, with sub-millisecond precision, like the
// bench's performance.timeOrigin + performance.now(). The process exits when stdin closes.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
)

// The keepalive settings of shardvoy's gRPC server (src/xds/server.ts) with its default
// xds.maxConnectionAgeSeconds (1800) and xds.maxConnectionAgeGraceSeconds (60).
const (
	keepaliveTime         = 30 * time.Second
	keepaliveTimeout      = 5 * time.Second
	maxConnectionAge      = 1800 * time.Second
	maxConnectionAgeGrace = 60 * time.Second
)

// Fixture is what the bench writes: the group's snapshot, encoded resources per type URL.
type Fixture struct {
	Version   string              `json:"version"`
	Nodes     []string            `json:"nodes"`
	Resources map[string][]string `json:"resources"`
}

type request struct {
	ID      int64           `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

type reply struct {
	ID     int64  `json:"id"`
	OK     bool   `json:"ok"`
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

func nowMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

// decode turns the encoded resources of a fixture into the messages go-control-plane holds.
func decode(encoded map[string][]string) (map[resourcev3.Type][]types.Resource, int, error) {
	out := map[resourcev3.Type][]types.Resource{}
	count := 0
	for typeURL, list := range encoded {
		for _, b64 := range list {
			raw, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", typeURL, err)
			}
			var msg proto.Message
			switch typeURL {
			case resourcev3.ClusterType:
				msg = &clusterv3.Cluster{}
			case resourcev3.EndpointType:
				msg = &endpointv3.ClusterLoadAssignment{}
			case resourcev3.ListenerType:
				msg = &listenerv3.Listener{}
			case resourcev3.RouteType:
				msg = &routev3.RouteConfiguration{}
			default:
				return nil, 0, fmt.Errorf("unsupported type %s", typeURL)
			}
			if err := proto.Unmarshal(raw, msg); err != nil {
				return nil, 0, fmt.Errorf("%s: %w", typeURL, err)
			}
			out[typeURL] = append(out[typeURL], msg)
			count++
		}
	}
	return out, count, nil
}

type peer struct {
	cache   cachev3.SnapshotCache
	streams atomic.Int64
	// setMu orders the snapshots set: a change, and a new node's first snapshot.
	setMu   sync.Mutex
	current *cachev3.Snapshot
	mu      sync.Mutex
	nodes   map[string]struct{}
	// edsMu guards eds: per SotW stream id, what it was sent and ACKed of EDS. Nil without
	// -track-eds, and then the eds* methods do nothing.
	edsMu sync.Mutex
	eds   map[int64]*edsState
}

type edsState struct {
	Peer    string  `json:"peer"`
	Sent    string  `json:"sent"`
	Acked   string  `json:"acked"`
	AckedAt float64 `json:"ackedAt"`
}

func (p *peer) edsOpened(ctx context.Context, id int64) {
	if p.eds == nil {
		return
	}
	address := ""
	if from, ok := grpcpeer.FromContext(ctx); ok {
		address = from.Addr.String()
	}
	p.edsMu.Lock()
	p.eds[id] = &edsState{Peer: address}
	p.edsMu.Unlock()
}

func (p *peer) edsClosed(id int64) {
	if p.eds == nil {
		return
	}
	p.edsMu.Lock()
	delete(p.eds, id)
	p.edsMu.Unlock()
}

// edsRequest notes an ACK: a request answering a response (a nonce) without an error.
func (p *peer) edsRequest(id int64, r *discoveryv3.DiscoveryRequest) {
	if p.eds == nil || r.GetTypeUrl() != resourcev3.EndpointType || r.GetResponseNonce() == "" || r.GetErrorDetail() != nil {
		return
	}
	p.edsMu.Lock()
	if state := p.eds[id]; state != nil {
		state.Acked = r.GetVersionInfo()
		state.AckedAt = nowMs()
	}
	p.edsMu.Unlock()
}

func (p *peer) edsResponse(id int64, r *discoveryv3.DiscoveryResponse) {
	if p.eds == nil || r.GetTypeUrl() != resourcev3.EndpointType {
		return
	}
	p.edsMu.Lock()
	if state := p.eds[id]; state != nil {
		state.Sent = r.GetVersionInfo()
	}
	p.edsMu.Unlock()
}

func (p *peer) edsStates() []edsState {
	p.edsMu.Lock()
	defer p.edsMu.Unlock()
	out := make([]edsState, 0, len(p.eds))
	for _, state := range p.eds {
		out = append(out, *state)
	}
	return out
}

// adopt gives a node not seen before the current snapshot, before its first watch is created
// (shardvoy serves every node of a group the group's snapshot from its first request).
func (p *peer) adopt(node *corev3.Node) {
	if node == nil || node.GetId() == "" {
		return
	}
	p.mu.Lock()
	_, known := p.nodes[node.GetId()]
	p.nodes[node.GetId()] = struct{}{}
	p.mu.Unlock()
	if known {
		return
	}
	p.setMu.Lock()
	defer p.setMu.Unlock()
	if p.current != nil {
		_ = p.cache.SetSnapshot(context.Background(), node.GetId(), p.current)
	}
}

func (p *peer) nodeList() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.nodes))
	for id := range p.nodes {
		out = append(out, id)
	}
	return out
}

// set makes a snapshot of the resources and sets it for every node.
func (p *peer) set(version string, encoded map[string][]string) (int, error) {
	resources, _, err := decode(encoded)
	if err != nil {
		return 0, err
	}
	snapshot, err := cachev3.NewSnapshot(version, resources)
	if err != nil {
		return 0, err
	}
	p.setMu.Lock()
	defer p.setMu.Unlock()
	p.current = snapshot
	nodes := p.nodeList()
	for _, node := range nodes {
		if err := p.cache.SetSnapshot(context.Background(), node, snapshot); err != nil {
			return 0, err
		}
	}
	return len(nodes), nil
}

func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}

func cpuMs() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return -1
	}
	ms := func(t syscall.Timeval) float64 { return float64(t.Sec)*1000 + float64(t.Usec)/1000 }
	return ms(usage.Utime) + ms(usage.Stime)
}

func (p *peer) handle(req request) (any, error) {
	switch req.Type {
	case "change":
		t0 := nowMs()
		var body struct {
			Version   string              `json:"version"`
			Resources map[string][]string `json:"resources"`
		}
		if err := json.Unmarshal(req.Payload, &body); err != nil {
			return nil, err
		}
		nodes, err := p.set(body.Version, body.Resources)
		if err != nil {
			return nil, err
		}
		return map[string]any{"t0": t0, "writtenAt": nowMs(), "nodes": nodes}, nil
	case "stats":
		var body struct {
			GC bool `json:"gc"`
		}
		_ = json.Unmarshal(req.Payload, &body)
		if body.GC {
			runtime.GC()
			debug.FreeOSMemory()
			time.Sleep(50 * time.Millisecond)
			debug.FreeOSMemory()
		}
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		return map[string]any{
			"rssBytes":      rssBytes(),
			"heapUsedBytes": mem.HeapAlloc,
			"cpuMs":         cpuMs(),
			"goroutines":    runtime.NumGoroutine(),
		}, nil
	case "ping":
		return map[string]any{"now": nowMs()}, nil
	case "streams":
		return p.streams.Load(), nil
	case "eds":
		if p.eds == nil {
			return nil, fmt.Errorf("eds: the peer was started without -track-eds")
		}
		return p.edsStates(), nil
	}
	return nil, fmt.Errorf("unknown request %q", req.Type)
}

func main() {
	fixturePath := flag.String("fixture", "", "the JSON fixture written by the bench")
	listen := flag.String("listen", "127.0.0.1:0", "address of the xDS gRPC server")
	trackEDS := flag.Bool("track-eds", false, "note each SotW stream's EDS versions sent and ACKed (the eds request)")
	flag.Parse()
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "go-control-plane peer: %v\n", err)
		os.Exit(1)
	}
	data, err := os.ReadFile(*fixturePath)
	if err != nil {
		fail(err)
	}
	var fixture Fixture
	if err := json.Unmarshal(data, &fixture); err != nil {
		fail(fmt.Errorf("%s: %w", *fixturePath, err))
	}

	p := &peer{nodes: map[string]struct{}{}}
	for _, node := range fixture.Nodes {
		p.nodes[node] = struct{}{}
	}
	// ADS on: responses wait until all the named resources are in the snapshot, in xDS order.
	p.cache = cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	if _, err := p.set(fixture.Version, fixture.Resources); err != nil {
		fail(err)
	}

	if *trackEDS {
		p.eds = map[int64]*edsState{}
	}
	callbacks := serverv3.CallbackFuncs{
		StreamOpenFunc: func(ctx context.Context, id int64, _ string) error {
			p.streams.Add(1)
			p.edsOpened(ctx, id)
			return nil
		},
		StreamClosedFunc:      func(id int64, _ *corev3.Node) { p.streams.Add(-1); p.edsClosed(id) },
		DeltaStreamOpenFunc:   func(context.Context, int64, string) error { p.streams.Add(1); return nil },
		DeltaStreamClosedFunc: func(int64, *corev3.Node) { p.streams.Add(-1) },
		StreamRequestFunc: func(id int64, r *discoveryv3.DiscoveryRequest) error {
			p.adopt(r.GetNode())
			p.edsRequest(id, r)
			return nil
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, r *discoveryv3.DiscoveryResponse) {
			p.edsResponse(id, r)
		},
		StreamDeltaRequestFunc: func(_ int64, r *discoveryv3.DeltaDiscoveryRequest) error { p.adopt(r.GetNode()); return nil },
	}
	ctx := context.Background()
	xds := serverv3.NewServer(ctx, p.cache, callbacks)

	grpcServer := grpc.NewServer(
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:                  keepaliveTime,
			Timeout:               keepaliveTimeout,
			MaxConnectionAge:      maxConnectionAge,
			MaxConnectionAgeGrace: maxConnectionAgeGrace,
		}),
	)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(grpcServer, xds)
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		fail(err)
	}
	go func() {
		if err := grpcServer.Serve(lis); err != nil {
			fail(err)
		}
	}()

	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	write := func(v any) {
		line, _ := json.Marshal(v)
		outMu.Lock()
		out.Write(line)
		out.WriteByte('\n')
		out.Flush()
		outMu.Unlock()
	}
	bi, _ := debug.ReadBuildInfo()
	gcpVersion := "unknown"
	if bi != nil {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/envoyproxy/go-control-plane" {
				gcpVersion = dep.Version
			}
		}
	}
	write(map[string]any{"ready": map[string]any{
		"grpc":       lis.Addr().String(),
		"pid":        os.Getpid(),
		"go":         runtime.Version(),
		"gomaxprocs": runtime.GOMAXPROCS(0),
		"library":    "github.com/envoyproxy/go-control-plane " + gcpVersion,
	}})

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			write(reply{ID: -1, OK: false, Error: err.Error()})
			continue
		}
		result, err := p.handle(req)
		if err != nil {
			write(reply{ID: req.ID, OK: false, Error: err.Error()})
		} else {
			write(reply{ID: req.ID, OK: true, Result: result})
		}
	}
	grpcServer.Stop()
}
