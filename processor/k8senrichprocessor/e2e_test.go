package k8senrichprocessor

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/k8s/k8stest"
	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver"
)

// TestEndToEndWithReceiver: the real ebpfsecurity receiver → k8senrich → a sink, without a
// cluster but with a real API server. A process started in a cgroup named as containerd names
// a pod's container gets that pod's attributes, found through the container id the test API
// server holds in the pod's status.
func TestEndToEndWithReceiver(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the receiver loads BPF programs (run the tests with `make test` as root)")
	}
	cg2 := cgroup2Mount(t)
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	id := newID()
	p := env.CreatePod(t, webPod("web-7d4b9c8f6-e2e"), running("web", id, imageDigest))

	h := startHarness(t, env, nil)
	rf := ebpfsecurityreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig().(*ebpfsecurityreceiver.Config)
	rcfg.NodeName = testNode
	rcfg.RingBuffer.FlushInterval = 20 * time.Millisecond
	r, err := rf.CreateLogs(context.Background(), receivertest.NewNopSettings(rf.Type()), rcfg, h.lp)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })

	// The pod's cgroup as the kubelet's systemd driver and containerd name it.
	rel := "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
		strings.ReplaceAll(string(p.UID), "-", "_") + ".slice/cri-containerd-" + id + ".scope"
	dir := filepath.Join(cg2, rel)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Cleanup(func() {
		for d := dir; d != cg2; d = filepath.Dir(d) {
			_ = os.Remove(d)
		}
	})
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	cmd := exec.Command("/bin/true", "otelsec-k8s-e2e")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	require.NoError(t, cmd.Run())

	var res map[string]any
	require.Eventually(t, func() bool {
		for _, ld := range h.logs.AllLogs() {
			for _, rl := range ld.ResourceLogs().All() {
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						pid, _ := lr.Attributes().Get(s.ProcessPID)
						if lr.EventName() == s.EventProcessExec && pid.Int() == int64(cmd.Process.Pid) {
							res = rl.Resource().Attributes().AsRaw()
							return true
						}
					}
				}
			}
		}
		return false
	}, 30*time.Second, 10*time.Millisecond, "the exec event of the process in the pod's cgroup")

	want := map[string]any{
		// From the receiver (the cgroup path):
		s.ContainerID: id, s.ContainerRuntimeName: "containerd", s.K8sPodUID: string(p.UID), "host.name": testNode, "os.type": "linux",
		// From the processor (the API server):
		s.K8sPodName: "web-7d4b9c8f6-e2e", s.K8sNamespaceName: "shop", s.K8sNodeName: testNode, s.K8sContainerName: "web",
		s.ContainerImageName: "registry.example.com/shop/web", s.ContainerImageTags: []any{"1.4.2"}, s.ContainerImageDigests: []any{imageDigest},
		"k8s.pod.label.app": "web", "k8s.pod.label.team.example.com/owner": "payments", "k8s.pod.label.pod-template-hash": "7d4b9c8f6",
	}
	if hid, ok := res[s.HostID]; ok {
		want[s.HostID] = hid // the machine id, when readable
	}
	assert.Equal(t, want, res)
	for k := range res {
		_, ok := s.LookupK8s(k)
		assert.True(t, ok, "%s is in internal/schema", k)
	}
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 && fields[2] == "cgroup2" {
			return fields[1]
		}
	}
	t.Fatal("no cgroup2 mount on this machine")
	return ""
}
