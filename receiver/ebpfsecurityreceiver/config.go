package ebpfsecurityreceiver

import (
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otelsec/otelsec/internal/sensor"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver/internal/metadata"
)

// Config is the ebpfsecurity receiver's configuration.
type Config struct {
	// NodeName names the node in exec ids and host.name. Default: $NODE_NAME, else the host name.
	NodeName string `mapstructure:"node_name"`
	// ProcPath is where the host's /proc is mounted (e.g. /host/proc in a container without
	// hostPID).
	ProcPath string `mapstructure:"proc_path"`
	// MountTracefs mounts tracefs at /sys/kernel/tracing when no tracefs is mounted: classic
	// tracepoints (the syscall tracepoints some sensors use on kernels without BPF LSM) need it.
	MountTracefs bool `mapstructure:"mount_tracefs"`

	Process      ProcessConfig      `mapstructure:"process"`
	File         FileConfig         `mapstructure:"file"`
	Network      NetworkConfig      `mapstructure:"network"`
	Privilege    PrivilegeConfig    `mapstructure:"privilege"`
	Policy       PolicyConfig       `mapstructure:"policy"`
	ProcessCache ProcessCacheConfig `mapstructure:"process_cache"`
	RingBuffer   RingBufferConfig   `mapstructure:"ring_buffer"`

	// MaxBatchSize bounds the log records handed to the next consumer at once.
	MaxBatchSize int `mapstructure:"max_batch_size"`
	// CollectionInterval is how often the receiver's own metrics are emitted.
	CollectionInterval time.Duration `mapstructure:"collection_interval"`

	metadata.MetricsBuilderConfig `mapstructure:",squash"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// ProcessConfig configures the process sensor.
type ProcessConfig struct {
	// Hook is auto, tp_btf or raw_tp.
	Hook string `mapstructure:"hook"`
	// ArgsMaxBytes bounds the argv bytes copied per exec (at most 8192).
	ArgsMaxBytes int `mapstructure:"args_max_bytes"`
	// AncestryDepth is how many ancestors each event names (0 to 64).
	AncestryDepth int `mapstructure:"ancestry_depth"`
}

// ProcessCacheConfig configures the process cache.
type ProcessCacheConfig struct {
	// Size is the number of processes (live and recently exited) kept.
	Size int `mapstructure:"size"`
	// ReapInterval is how often processes the cache holds as running are checked against
	// /proc, to end those whose exit record was lost.
	ReapInterval time.Duration `mapstructure:"reap_interval"`
}

// RingBufferConfig configures the ring buffer between the kernel and the receiver.
type RingBufferConfig struct {
	// Size in bytes: a power of two, at least one page.
	Size int `mapstructure:"size"`
	// WakeupEvery forces a reader wakeup every N records per CPU; records in between wait for
	// FlushInterval at most.
	WakeupEvery int `mapstructure:"wakeup_every"`
	// FlushInterval bounds how long a record waits in the ring buffer and in the receiver's
	// batch before it is sent on.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
}

var _ component.Config = (*Config)(nil)

// Validate checks every field and names each one that is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	switch sensor.Hook(c.Process.Hook) {
	case sensor.HookAuto, sensor.HookTPBTF, sensor.HookRawTP:
	default:
		bad("process::hook", "must be one of auto, tp_btf, raw_tp; got %q", c.Process.Hook)
	}
	if c.Process.ArgsMaxBytes < 1 || c.Process.ArgsMaxBytes > sensor.ArgsMaxBytesLimit {
		bad("process::args_max_bytes", "must be between 1 and %d; got %d", sensor.ArgsMaxBytesLimit, c.Process.ArgsMaxBytes)
	}
	if c.Process.AncestryDepth < 0 || c.Process.AncestryDepth > 64 {
		bad("process::ancestry_depth", "must be between 0 and 64; got %d", c.Process.AncestryDepth)
	}
	c.File.validate(bad)
	c.Network.validate(bad)
	c.Privilege.validate(bad)
	c.Policy.validate(bad)
	if c.ProcessCache.Size < 64 {
		bad("process_cache::size", "must be at least 64; got %d", c.ProcessCache.Size)
	}
	if c.ProcessCache.ReapInterval <= 0 {
		bad("process_cache::reap_interval", "must be positive; got %s", c.ProcessCache.ReapInterval)
	}
	page := os.Getpagesize()
	if s := c.RingBuffer.Size; s < page || s&(s-1) != 0 || s > 1<<30 {
		bad("ring_buffer::size", "must be a power of two between the page size (%d) and 1 GiB; got %d", page, s)
	}
	if c.RingBuffer.WakeupEvery < 1 {
		bad("ring_buffer::wakeup_every", "must be at least 1; got %d", c.RingBuffer.WakeupEvery)
	}
	if c.RingBuffer.FlushInterval <= 0 {
		bad("ring_buffer::flush_interval", "must be positive; got %s", c.RingBuffer.FlushInterval)
	}
	if c.MaxBatchSize < 1 {
		bad("max_batch_size", "must be at least 1; got %d", c.MaxBatchSize)
	}
	if c.CollectionInterval <= 0 {
		bad("collection_interval", "must be positive; got %s", c.CollectionInterval)
	}
	if c.ProcPath == "" {
		bad("proc_path", "must not be empty")
	}
	return errors.Join(errs...)
}
