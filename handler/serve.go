package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/archive"
	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/invoke"
	"github.com/azdetect/azdetect/internal/pipeline"
)

// runServe is the custom handler: it listens on loopback at once (the host
// polls for readiness), then loads the rules and answers invocations until
// SIGTERM, finishing running ones first.
func runServe(ctx context.Context, s config.Settings, args []string, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "azdetect serve: takes no arguments (settings come from the environment), got %q\n", args)
		return exitUsage
	}
	ctx = hostLogger(*zerolog.Ctx(ctx), os.Stdout, stderr).WithContext(ctx)
	if err := serve(ctx, s, os.Stdout, nil); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Msg("serve failed")
		return exitFailure
	}
	return exitOK
}

// serve runs the handler until ctx ends. ready, when not nil, receives the
// bound address once the server listens (tests use it).
// serveChunkEvents is the chunk of serve's pipeline: a 1,000-record Event
// Hub batch of flow logs at ~22 tuples a record fits.
const serveChunkEvents = 32768

func serve(ctx context.Context, s config.Settings, stdout io.Writer, ready chan<- net.Addr) error {
	log := zerolog.Ctx(ctx)
	log.Info().Interface("settings", s.Redacted()).Str("version", version).Msg("starting")
	// Nothing reads a heap profile of serve: sampling one allocation in
	// 512 KiB took a stack trace each time (~1 M instructions per
	// 1,000-record batch).
	stopHeapSampling()
	floor := tuneGC(log)
	defer floor.stop()
	srv, err := invoke.NewServer(invoke.ServerOptions{
		Addr:          net.JoinHostPort("127.0.0.1", s.Port),
		FunctionsDir:  invoke.FunctionsRoot(os.Getenv(invoke.AppRootSetting), s.FunctionsDir),
		MaxBodyBytes:  s.MaxBodyBytes,
		ShutdownGrace: s.ShutdownGrace,
		MaxConcurrent: s.MaxConcurrentInvocations,
		Logger:        log.With().Str("component", "invoke").Logger(),
	})
	if err != nil {
		return err
	}
	addr, err := srv.Listen()
	if err != nil {
		return err
	}
	// Answer the host's readiness polls at once: building the engine comes
	// after, and invocations that arrive meanwhile wait for Attach.
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	if ready != nil {
		ready <- addr
	}

	store, err := openState(s)
	if err != nil {
		return err
	}
	reg, eng, rules, err := engine(s, detect.WithStore(store))
	if err != nil {
		return err
	}
	sink, outbox, err := alertSink(ctx, s, stdout, store)
	if err != nil {
		return err
	}
	defer sink.Close()
	dead, err := deadLetters(ctx, s)
	if err != nil {
		return err
	}
	defer dead.Close()
	silent, err := silenceTracker(s, store)
	if err != nil {
		return err
	}
	sup := suppressor(s, store)
	p, err := pipeline.New(pipeline.Options{
		Registry: reg, Engine: eng, Sink: sink, DeadLetters: dead,
		Suppressor: sup, Silence: silent,
		// An invocation is one chunk: one read and one write per state
		// partition (the host's batches are bounded; 16 MiB of records
		// still cuts a chunk).
		ChunkEvents: serveChunkEvents,
	})
	if err != nil {
		return err
	}
	m := newMaintainer(store, outbox)
	m.claims = redelivery(sup, sink)
	m.silence = p
	sweeper, err := openArchive(s, store, p, *log)
	if err != nil {
		return err
	}
	if sweeper != nil {
		// Blob invocations register archive blobs; the timer sweeps them.
		m.archive = sweeper
		m.tables = append(m.tables, archive.CursorTable)
		srv.Attach(archiveProcessor{Pipeline: p, archive: sweeper}, m)
	} else {
		srv.Attach(p, m)
	}
	log.Info().Int("rules", len(rules)).Msg("ready")
	// The heap's room is faulted in after Attach, beside the first
	// invocations: a one-time cost (98,000 faults for 384 MiB: 0.15 s on
	// this machine in s7-srv; 49,000 for 192 MiB took ~1 s of CPU on the
	// project's earlier 2-core virtual machine) that no invocation waits
	// for. It ends early when ctx does, and serve returns after it.
	roomDone := make(chan struct{})
	defer func() { <-roomDone }()
	if floor != nil && prefaultRoom {
		go func() {
			defer close(roomDone)
			defer heapRoomFaulted()
			log.Info().Dur("took", prefault(ctx, floor.room)).Uint64("bytes", floor.room).Msg("heap room faulted in")
		}()
	} else {
		close(roomDone)
		heapRoomFaulted()
	}
	return <-served
}

// defaultMemProfileRate is runtime.MemProfileRate's default.
const defaultMemProfileRate = 512 * 1024

// stopHeapSampling turns the runtime's sampling of allocations for a heap
// profile off when it is at its default: the binary links the profile
// writer (AZDETECT_SCAN_MEMPROFILE), which leaves it on, and each sample
// takes a stack trace. A rate set by someone else stays.
func stopHeapSampling() {
	if runtime.MemProfileRate == defaultMemProfileRate {
		runtime.MemProfileRate = 0
	}
}

// prefault is prefaultHeap (tests hold it back).
var prefault = prefaultHeap

// heapRoomFaulted is called once serve's heap room is faulted in, or at
// once when it faults none in (tests and BenchmarkServe wait for it).
var heapRoomFaulted = func() {}

// hostLogger writes each log line where the Functions host gives it the
// level it was logged at (reference/functions-contract.md §1): the host
// reads the handler's stdout as Information and levels a stderr line by
// its words ("warn": Warning; "error", "fail", "severe": Error; otherwise
// Information), never by zerolog's level field. So trace, debug and info
// lines go to stdout, and warnings and errors (whose JSON holds "warn" or
// "error" in its level field) to stderr. Lines logged without a level
// (the HTTP server's, which carry level "warn") go to stderr too.
func hostLogger(log zerolog.Logger, stdout, stderr io.Writer) zerolog.Logger {
	return log.Output(hostLevels{info: stdout, warn: stderr})
}

type hostLevels struct{ info, warn io.Writer }

// Write takes lines without a level.
func (w hostLevels) Write(p []byte) (int, error) { return w.warn.Write(p) }

// WriteLevel implements zerolog.LevelWriter.
func (w hostLevels) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	if l < zerolog.WarnLevel {
		return w.info.Write(p)
	}
	return w.warn.Write(p)
}

var _ zerolog.LevelWriter = hostLevels{}
