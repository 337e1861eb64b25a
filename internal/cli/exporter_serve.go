package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vpmu/vpmu/exporters"
)

// exporterShutdownTimeout bounds how long scrapes in flight may take to
// finish after SIGINT or SIGTERM.
const exporterShutdownTimeout = 5 * time.Second

// serveExporter serves the targets' metrics on addr until SIGINT or
// SIGTERM, then shuts the server down gracefully. It does not close the
// targets.
func serveExporter(env *Env, addr string, targets []nativeTarget) error {
	pts := make([]exporters.PromTarget, len(targets))
	for i, t := range targets {
		pts[i] = t
	}
	coll, err := exporters.NewPromCollector(exporters.PromOptions{}, pts...)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		coll,
		exporters.NewPromBuildInfoCollector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	log := &lineLogger{w: env.Stderr, prefix: "vpmu exporter: "}
	metrics := promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// One target that cannot be read must not fail the others:
		// its error is logged and its counters say read_error.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      log,
		Registry:      reg,
	}))
	notes := notSupportedNotes(targets)
	index, err := indexPage(targets, notes)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(index)
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	for _, n := range notes {
		log.Println(n)
	}
	plural := "s"
	if len(targets) == 1 {
		plural = ""
	}
	log.Println(fmt.Sprintf("counting %d target%s; serving http://%s/metrics", len(targets), plural, ln.Addr()))

	sigs := make(chan os.Signal, 1)
	env.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer env.StopNotify(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve http://%s: %w", ln.Addr(), err)
	case s := <-sigs:
		log.Println(fmt.Sprintf("%v: shutting down", s))
	}
	ctx, cancel := context.WithTimeout(context.Background(), exporterShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		<-served
		return fmt.Errorf("shut down the server: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http://%s: %w", ln.Addr(), err)
	}
	return nil
}

// lineLogger writes whole lines with a prefix; promhttp logs scrape
// errors through it from the server's goroutines.
type lineLogger struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

// Println implements promhttp.Logger.
func (l *lineLogger) Println(v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprint(l.w, l.prefix)
	fmt.Fprintln(l.w, v...)
}

var indexTemplate = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html><head><title>vpmu exporter</title></head>
<body>
<h1>vpmu exporter</h1>
<p><a href="/metrics">Metrics</a> (see docs/metrics.md in the vpmu repository for what each means).</p>
<h2>Targets</h2>
<ul>{{range .Targets}}
<li><code>{{.}}</code></li>{{end}}
</ul>
{{if .Notes}}<h2>Not counted</h2>
<ul>{{range .Notes}}
<li>{{.}}</li>{{end}}
</ul>{{end}}
</body></html>
`))

// indexPage renders the / page: the targets and the events that cannot
// be counted, with the reasons. They do not change while serving.
func indexPage(targets []nativeTarget, notes []string) ([]byte, error) {
	data := struct {
		Targets []string
		Notes   []string
	}{Notes: notes}
	for _, t := range targets {
		data.Targets = append(data.Targets, t.Info().String())
	}
	var b bytes.Buffer
	if err := indexTemplate.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("index page: %w", err)
	}
	return b.Bytes(), nil
}
