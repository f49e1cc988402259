package consultest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// StartTimeout bounds how long Start waits for the agent to lead and serve.
const StartTimeout = 90 * time.Second

// Ports are the agent's listeners, all on 127.0.0.1.
type Ports struct {
	HTTP, DNS, SerfLAN, SerfWAN, Server int
}

// Agent is one running `consul agent -dev`.
type Agent struct {
	Ports    Ports
	HTTPAddr string // 127.0.0.1:<http>
	DNSAddr  string // 127.0.0.1:<dns>, UDP and TCP
	Node     string // the agent's node name

	bin     string
	dir     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Start runs an agent from bin on free loopback ports with a fresh data dir
// and waits until it has elected itself leader and registered its node.
func Start(bin string) (*Agent, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := FreePorts()
		if err != nil {
			return nil, err
		}
		a, err := StartOn(bin, ports)
		if err == nil {
			return a, nil
		}
		lastErr = err // most likely a port taken between picking and binding
	}
	return nil, lastErr
}

// StartOn runs an agent on the given ports with a fresh data dir, e.g. to
// replace a killed agent with an empty one at the same address.
func StartOn(bin string, ports Ports) (*Agent, error) {
	dir, err := os.MkdirTemp("", "consultest-")
	if err != nil {
		return nil, fmt.Errorf("consul data dir: %w", err)
	}
	a := &Agent{
		Ports:    ports,
		HTTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.HTTP)),
		DNSAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.DNS)),
		Node:     "consultest-" + strconv.Itoa(ports.HTTP),
		bin:      bin,
		dir:      dir,
		logPath:  filepath.Join(dir, "agent.log"),
		exited:   make(chan struct{}),
	}
	if err := a.start(); err != nil {
		_ = os.RemoveAll(dir) // a temporary dir: a leftover costs only disk; the start's error is the one to report
		return nil, err
	}
	return a, nil
}

func (a *Agent) start() error {
	logf, err := os.Create(a.logPath)
	if err != nil {
		return fmt.Errorf("consul log file: %w", err)
	}
	defer logf.Close() //nolint:errcheck // the agent writes through its own descriptor; ours only started it
	p := a.Ports
	a.cmd = exec.Command(a.bin, "agent", "-dev",
		"-bind=127.0.0.1", "-client=127.0.0.1", "-advertise=127.0.0.1",
		"-node="+a.Node,
		"-data-dir="+filepath.Join(a.dir, "data"),
		"-http-port="+strconv.Itoa(p.HTTP),
		"-dns-port="+strconv.Itoa(p.DNS),
		"-serf-lan-port="+strconv.Itoa(p.SerfLAN),
		"-serf-wan-port="+strconv.Itoa(p.SerfWAN),
		"-server-port="+strconv.Itoa(p.Server),
		"-grpc-port=-1", "-grpc-tls-port=-1", "-https-port=-1",
		"-log-level=info",
		"-hcl=disable_update_check = true",
	)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	a.cmd.SysProcAttr = procAttr()
	if err := a.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", a.bin, err)
	}
	go func() {
		a.waitErr = a.cmd.Wait()
		close(a.exited)
	}()
	if err := a.waitReady(); err != nil {
		logTail := a.LogTail(3000) // before Kill removes the log with the data dir
		a.Kill()
		return fmt.Errorf("consul agent on %s: %w\n--- agent log tail ---\n%s", a.HTTPAddr, err, logTail)
	}
	return nil
}

// waitReady polls until the agent leads and its own node is in the catalog.
func (a *Agent) waitReady() error {
	deadline := time.Now().Add(StartTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-a.exited:
			return fmt.Errorf("agent exited during start: %v", a.waitErr)
		case <-time.After(100 * time.Millisecond):
		}
		var leader string
		if err := getJSON(client, "http://"+a.HTTPAddr+"/v1/status/leader", &leader); err != nil {
			last = err
			continue
		}
		if leader == "" {
			last = errors.New("no leader yet")
			continue
		}
		var node map[string]any
		if err := getJSON(client, "http://"+a.HTTPAddr+"/v1/catalog/node/"+a.Node, &node); err != nil {
			last = err
			continue
		}
		if node == nil {
			last = errors.New("own node not registered yet")
			continue
		}
		return nil
	}
	return fmt.Errorf("not ready after %s: %v", StartTimeout, last)
}

func getJSON(c *http.Client, url string, out any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Client returns an API client for the agent.
func (a *Agent) Client() *consulapi.Client {
	cfg := consulapi.DefaultConfig()
	cfg.Address = a.HTTPAddr
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		panic(fmt.Sprintf("consultest: client for %s: %v", a.HTTPAddr, err)) // only on a malformed address
	}
	return c
}

// Resolver returns a resolver that asks the agent's DNS server.
func (a *Agent) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, a.DNSAddr)
		},
	}
}

// Kill stops the agent with SIGKILL, as a crash would, and waits for it.
// The data dir is removed. It is safe to call more than once.
func (a *Agent) Kill() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
	_ = os.RemoveAll(a.dir) // a temporary dir: a leftover costs only disk
}

// Stop asks the agent to leave and exit, kills it if it has not within
// 10s, and removes its data dir. It is safe to call more than once.
func (a *Agent) Stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.exited:
		case <-time.After(10 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
	}
	_ = os.RemoveAll(a.dir) // a temporary dir: a leftover costs only disk
}

// LogTail returns the last n bytes of the agent's log.
func (a *Agent) LogTail(n int) string {
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(tail(b, n))
}

// FreePorts picks distinct free loopback ports (the DNS one free for both
// TCP and UDP). Another process may still take one before the agent binds.
func FreePorts() (Ports, error) {
	var held []func()
	defer func() {
		for _, release := range held {
			release()
		}
	}()
	pick := func(udp bool) (int, error) {
		for range 20 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, fmt.Errorf("pick a free port: %w", err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			held = append(held, func() { _ = l.Close() }) // held only to keep the port from the next pick
			if !udp {
				return port, nil
			}
			u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue
			}
			held = append(held, func() { _ = u.Close() }) // likewise
			return port, nil
		}
		return 0, errors.New("pick a free port: no port free for both TCP and UDP")
	}
	var p Ports
	var err error
	for _, f := range []struct {
		dst *int
		udp bool
	}{{&p.HTTP, false}, {&p.DNS, true}, {&p.SerfLAN, true}, {&p.SerfWAN, true}, {&p.Server, false}} {
		if *f.dst, err = pick(f.udp); err != nil {
			return Ports{}, err
		}
	}
	return p, nil
}
