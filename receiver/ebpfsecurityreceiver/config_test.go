package ebpfsecurityreceiver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	custom := createDefaultConfig().(*Config)
	custom.NodeName = "worker-1"
	custom.ProcPath = "/host/proc"
	custom.MountTracefs = false
	custom.Process = ProcessConfig{Hook: "raw_tp", ArgsMaxBytes: 4096, AncestryDepth: 10}
	custom.Privilege = PrivilegeConfig{Enabled: true, Events: []string{"process.privilege_change", "filesystem.mount"}, CredentialsHook: "tracepoint"}
	custom.Network = NetworkConfig{Enabled: true, Events: []string{"connect", "close"},
		IncludeCIDRs: []string{"10.0.0.0/8", "fd00::/8", "192.168.1.7"}, ExcludeCIDRs: []string{"10.1.0.0/16"},
		IncludePorts: []int{443, 53}, ExcludePorts: []int{22}, Loopback: false, MaxSockets: 4096}
	custom.ProcessCache = ProcessCacheConfig{Size: 131072, ReapInterval: 5 * time.Minute}
	custom.RingBuffer = RingBufferConfig{Size: 16 << 20, WakeupEvery: 128, FlushInterval: 500 * time.Millisecond}
	custom.MaxBatchSize = 512
	custom.CollectionInterval = 30 * time.Second
	custom.Metrics.OtelsecSensorHooks.Enabled = false
	custom.ResourceAttributes.HostID.Enabled = false

	for _, tt := range []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), createDefaultConfig().(*Config)},
		{component.NewIDWithName(metadata.Type, "custom"), custom},
	} {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, xconfmap.Validate(cfg))
			// The metric configs remember whether the user set them; compare what matters.
			assert.Equal(t, tt.want.Metrics.OtelsecSensorHooks.Enabled, cfg.Metrics.OtelsecSensorHooks.Enabled)
			assert.Equal(t, tt.want.ResourceAttributes.HostID.Enabled, cfg.ResourceAttributes.HostID.Enabled)
			tt.want.MetricsBuilderConfig, cfg.MetricsBuilderConfig = metadata.MetricsBuilderConfig{}, metadata.MetricsBuilderConfig{}
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestConfigUnknownField(t *testing.T) {
	cm := confmapFrom(t, map[string]any{"process": map[string]any{"hooks": "tp_btf"}})
	err := cm.Unmarshal(createDefaultConfig())
	require.ErrorContains(t, err, "hooks")
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tt := range []struct {
		field  string
		mutate func(*Config)
		msg    string
	}{
		{"process::hook", func(c *Config) { c.Process.Hook = "kprobe" }, `must be one of auto, tp_btf, raw_tp; got "kprobe"`},
		{"process::args_max_bytes", func(c *Config) { c.Process.ArgsMaxBytes = 0 }, "must be between 1 and 8192; got 0"},
		{"process::args_max_bytes", func(c *Config) { c.Process.ArgsMaxBytes = 8193 }, "must be between 1 and 8192; got 8193"},
		{"process::ancestry_depth", func(c *Config) { c.Process.AncestryDepth = -1 }, "must be between 0 and 64; got -1"},
		{"process::ancestry_depth", func(c *Config) { c.Process.AncestryDepth = 65 }, "must be between 0 and 64; got 65"},
		{"process_cache::size", func(c *Config) { c.ProcessCache.Size = 10 }, "must be at least 64; got 10"},
		{"process_cache::reap_interval", func(c *Config) { c.ProcessCache.ReapInterval = 0 }, "must be positive"},
		{"ring_buffer::size", func(c *Config) { c.RingBuffer.Size = 3 << 20 }, "must be a power of two"},
		{"ring_buffer::size", func(c *Config) { c.RingBuffer.Size = 1024 }, "must be a power of two"},
		{"ring_buffer::size", func(c *Config) { c.RingBuffer.Size = 2 << 30 }, "must be a power of two"},
		{"ring_buffer::wakeup_every", func(c *Config) { c.RingBuffer.WakeupEvery = 0 }, "must be at least 1; got 0"},
		{"ring_buffer::flush_interval", func(c *Config) { c.RingBuffer.FlushInterval = 0 }, "must be positive"},
		{"max_batch_size", func(c *Config) { c.MaxBatchSize = 0 }, "must be at least 1; got 0"},
		{"collection_interval", func(c *Config) { c.CollectionInterval = -time.Second }, "must be positive"},
		{"proc_path", func(c *Config) { c.ProcPath = "" }, "must not be empty"},
	} {
		t.Run(tt.field, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.mutate(cfg)
			err := xconfmap.Validate(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.field+": "+tt.msg)
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Process.Hook = "x"
	cfg.MaxBatchSize = 0
	err := cfg.Validate()
	require.ErrorContains(t, err, "process::hook")
	require.ErrorContains(t, err, "max_batch_size")
}

func TestStartFailsClearlyWithoutProc(t *testing.T) {
	requireRoot(t)
	cfg := createDefaultConfig().(*Config)
	cfg.ProcPath = t.TempDir()
	f := NewFactory()
	r, err := f.CreateLogs(t.Context(), receiverSettings(), cfg, nil)
	require.NoError(t, err)
	err = r.Start(t.Context(), nil)
	require.ErrorContains(t, err, "proc_path")
	require.NoError(t, r.Shutdown(t.Context()))
}

// TestStartWithoutPrivileges runs Start as nobody (in a copy of this test binary) and checks that
// it fails saying which capabilities are missing.
func TestStartWithoutPrivileges(t *testing.T) {
	requireRoot(t)
	if os.Getenv("OTELSEC_HELPER") == "unprivileged" {
		return
	}
	self, err := os.Executable()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "otelsec-unpriv-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "receiver.test")
	b, err := os.ReadFile(self)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, b, 0o755))

	cmd := exec.Command(bin, "-test.run=^TestHelperUnprivilegedStart$", "-test.v")
	cmd.Env = append(os.Environ(), "OTELSEC_HELPER=unprivileged")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "start error: ebpfsecurity: cannot probe kernel: missing capabilities")
	require.Contains(t, string(out), "CAP_BPF")
}

// TestHelperUnprivilegedStart is not a test: TestStartWithoutPrivileges runs it as nobody.
func TestHelperUnprivilegedStart(t *testing.T) {
	if os.Getenv("OTELSEC_HELPER") != "unprivileged" {
		t.Skip("helper process for TestStartWithoutPrivileges")
	}
	r, err := NewFactory().CreateLogs(t.Context(), receiverSettings(), createDefaultConfig(), nil)
	require.NoError(t, err)
	err = r.Start(t.Context(), nil)
	require.Error(t, err)
	fmt.Println("start error:", err)
	require.NoError(t, r.Shutdown(t.Context()))
}
