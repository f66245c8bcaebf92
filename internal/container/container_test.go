package container

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const (
	id1 = "3f1a9c0e2b7d4e6f8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071"
	id2 = "b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1"

	podDash  = "6f1c8a3e-1b2c-4d5e-8f90-0a1b2c3d4e5f"
	podUnder = "6f1c8a3e_1b2c_4d5e_8f90_0a1b2c3d4e5f"
	podDash2 = "0d9e8f7a-6b5c-4d3e-a2f1-0e9d8c7b6a59"
	podUnd2  = "0d9e8f7a_6b5c_4d3e_a2f1_0e9d8c7b6a59"
	podHash  = "5b8e1c0b1d0ad4b4b6e5f2e9a1e0e2c3" // static pod: md5 of manifest
)

func TestFromCgroupPath(t *testing.T) {
	tests := []struct {
		name string
		path string
		want Info
	}{
		// systemd cgroup driver.
		{
			"containerd systemd burstable",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUnder + ".slice/cri-containerd-" + id1 + ".scope",
			Info{ID: id1, Runtime: RuntimeContainerd, PodUID: podDash},
		},
		{
			"containerd systemd besteffort",
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podUnder + ".slice/cri-containerd-" + id1 + ".scope",
			Info{ID: id1, Runtime: RuntimeContainerd, PodUID: podDash},
		},
		{
			"containerd systemd guaranteed",
			"/kubepods.slice/kubepods-pod" + podUnder + ".slice/cri-containerd-" + id1 + ".scope",
			Info{ID: id1, Runtime: RuntimeContainerd, PodUID: podDash},
		},
		{
			"static pod hash uid",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podHash + ".slice/cri-containerd-" + id1 + ".scope",
			Info{ID: id1, Runtime: RuntimeContainerd, PodUID: podHash},
		},
		{
			"cri-o systemd",
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podUnder + ".slice/crio-" + id1 + ".scope",
			Info{ID: id1, Runtime: RuntimeCRIO, PodUID: podDash},
		},
		{
			// conmon is host-side: no container, but it is in the pod slice.
			"cri-o conmon is host",
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podUnder + ".slice/crio-conmon-" + id1 + ".scope",
			Info{PodUID: podDash},
		},
		{
			"cri-o container sub-cgroup",
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podUnder + ".slice/crio-" + id1 + ".scope/container",
			Info{ID: id1, Runtime: RuntimeCRIO, PodUID: podDash},
		},
		{
			"docker systemd",
			"/system.slice/docker-" + id1 + ".scope",
			Info{ID: id1, Runtime: RuntimeDocker},
		},
		{
			"systemd inside docker container",
			"/system.slice/docker-" + id1 + ".scope/init.scope",
			Info{ID: id1, Runtime: RuntimeDocker},
		},
		{
			"podman rootful",
			"/machine.slice/libpod-" + id1 + ".scope",
			Info{ID: id1, Runtime: RuntimePodman},
		},
		{
			"podman rootless with container sub-cgroup",
			"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id1 + ".scope/container",
			Info{ID: id1, Runtime: RuntimePodman},
		},
		{
			"podman conmon is host",
			"/machine.slice/libpod-conmon-" + id1 + ".scope",
			Info{},
		},
		{
			"nerdctl",
			"/system.slice/nerdctl-" + id1 + ".scope",
			Info{ID: id1, Runtime: RuntimeContainerd},
		},
		{
			"unknown runtime prefix",
			"/system.slice/acme-" + id1 + ".scope",
			Info{ID: id1},
		},

		// cgroupfs driver.
		{
			"cgroupfs burstable",
			"/kubepods/burstable/pod" + podDash + "/" + id1,
			Info{ID: id1, PodUID: podDash},
		},
		{
			"cgroupfs besteffort",
			"/kubepods/besteffort/pod" + podDash + "/" + id1,
			Info{ID: id1, PodUID: podDash},
		},
		{
			"cgroupfs guaranteed",
			"/kubepods/pod" + podDash + "/" + id1,
			Info{ID: id1, PodUID: podDash},
		},
		{
			"cgroupfs cri-o",
			"/kubepods/burstable/pod" + podDash + "/crio-" + id1,
			Info{ID: id1, Runtime: RuntimeCRIO, PodUID: podDash},
		},
		{
			"cgroupfs cri-o conmon",
			"/kubepods/burstable/pod" + podDash + "/crio-conmon-" + id1,
			Info{PodUID: podDash},
		},
		{
			"cgroupfs pod cgroup itself",
			"/kubepods/burstable/pod" + podDash,
			Info{PodUID: podDash},
		},
		{
			"docker cgroupfs",
			"/docker/" + id1,
			Info{ID: id1, Runtime: RuntimeDocker},
		},
		{
			"containerd systemd-style name under cgroupfs",
			"/system.slice/containerd.service/kubepods-burstable-pod" + podUnder + ".slice:cri-containerd:" + id1,
			Info{ID: id1, Runtime: RuntimeContainerd, PodUID: podDash},
		},
		{
			"github actions job container",
			"/actions_job/" + id1,
			Info{ID: id1},
		},
		{
			"ecs task",
			"/ecs/8f3c2b1a0e9d4c7b6a5f4e3d2c1b0a99/" + id1,
			Info{ID: id1},
		},
		{
			"path from another cgroup namespace",
			"/../../kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podUnder + ".slice/cri-containerd-" + id1 + ".scope",
			Info{ID: id1, Runtime: RuntimeContainerd, PodUID: podDash},
		},
		{
			"no leading slash",
			"docker/" + id1,
			Info{ID: id1, Runtime: RuntimeDocker},
		},
		{
			"trailing slash",
			"/docker/" + id1 + "/",
			Info{ID: id1, Runtime: RuntimeDocker},
		},

		// Nested: the innermost container wins, with its own pod.
		{
			"kind node on docker cgroupfs",
			"/docker/" + id1 + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + podUnder + ".slice/cri-containerd-" + id2 + ".scope",
			Info{ID: id2, Runtime: RuntimeContainerd, PodUID: podDash},
		},
		{
			"kind node on docker systemd",
			"/system.slice/docker-" + id1 + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" + podUnder + ".slice/cri-containerd-" + id2 + ".scope",
			Info{ID: id2, Runtime: RuntimeContainerd, PodUID: podDash},
		},
		{
			"kind node process (kubelet) is in the node container",
			"/docker/" + id1 + "/kubelet.slice",
			Info{ID: id1, Runtime: RuntimeDocker},
		},
		{
			// The nested pod is below the node container, so it is not
			// that container's pod.
			"conmon inside a kind node",
			"/docker/" + id1 + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" + podUnder + ".slice/crio-conmon-" + id2 + ".scope",
			Info{ID: id1, Runtime: RuntimeDocker},
		},
		{
			"docker in docker",
			"/docker/" + id1 + "/docker/" + id2,
			Info{ID: id2, Runtime: RuntimeDocker},
		},
		{
			"docker in a pod",
			"/kubepods/burstable/pod" + podDash + "/" + id1 + "/docker/" + id2,
			Info{ID: id2, Runtime: RuntimeDocker, PodUID: podDash},
		},
		{
			"nested pods: innermost enclosing pod",
			"/kubepods/pod" + podDash2 + "/" + id1 + "/kubelet.slice/kubelet-kubepods-pod" + podUnder + ".slice/cri-containerd-" + id2 + ".scope",
			Info{ID: id2, Runtime: RuntimeContainerd, PodUID: podDash},
		},
		{
			"nested pods, host-side leaf",
			"/kubepods.slice/kubepods-pod" + podUnd2 + ".slice/cri-containerd-" + id1 + ".scope/kubelet.slice/kubelet-kubepods-pod" + podUnder + ".slice",
			Info{ID: id1, Runtime: RuntimeContainerd, PodUID: podDash2},
		},

		// Host processes.
		{"empty", "", Info{}},
		{"root", "/", Info{}},
		{"user session", "/user.slice/user-1000.slice/session-3.scope", Info{}},
		{"service", "/system.slice/sshd.service", Info{}},
		{"init", "/init.scope", Info{}},
		{"containerd daemon", "/system.slice/containerd.service", Info{}},
		{"kubepods slice", "/kubepods.slice/kubepods-burstable.slice", Info{}},
		{"kubepods cgroupfs", "/kubepods/burstable", Info{}},
		{"systemd run scope", "/system.slice/run-r1e2f3a4b5c6d7e8f90a1b2c3d4e5f607.scope", Info{}},

		// Not ids.
		{"short id", "/system.slice/docker-abc.scope", Info{}},
		{"63 hex", "/docker/" + id1[:63], Info{}},
		{"65 hex", "/docker/" + id1 + "0", Info{}},
		{"uppercase hex", "/docker/" + strings.ToUpper(id1), Info{}},
		{"non-hex char", "/docker/" + id1[:63] + "g", Info{}},
		{"id without dash separator", "/system.slice/docker" + id1 + ".scope", Info{}},
		{"empty prefix", "/system.slice/-" + id1 + ".scope", Info{}},
		{"id with suffix", "/system.slice/docker-" + id1 + ".service", Info{}},
		{"colon form with bad id", "/x/kubepods-pod" + podUnder + ".slice:cri-containerd:" + id1[:60], Info{}},
		{"colon form missing prefix", "/x/kubepods-pod" + podUnder + ".slice:" + id1, Info{}},
		{"colon form conmon", "/x/kubepods-pod" + podUnder + ".slice:crio-conmon:" + id1, Info{}},

		// Not pods.
		{"pod dir outside kubepods", "/foo/pod" + podDash + "/" + id1, Info{ID: id1}},
		{"pod slice outside kubepods", "/foo.slice/foo-pod" + podUnder + ".slice", Info{}},
		{"pod uid wrong shape", "/kubepods/burstable/pod" + podDash[:35] + "/" + id1, Info{ID: id1}},
		{"pod uid mixed separators", "/kubepods.slice/kubepods-pod" + podUnder[:8] + "-" + podUnder[9:] + ".slice", Info{}},
		{"pod uid uppercase", "/kubepods/pod" + strings.ToUpper(podDash), Info{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, FromCgroupPath(tt.path), tt.path)
		})
	}
}

// FromCgroupPath must not panic on arbitrary input.
func FuzzFromCgroupPath(f *testing.F) {
	f.Add("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUnder + ".slice/cri-containerd-" + id1 + ".scope")
	f.Add("/system.slice/containerd.service/kubepods-burstable-pod" + podUnder + ".slice:cri-containerd:" + id1)
	f.Add("/docker/" + id1)
	f.Add("//:/")
	f.Fuzz(func(t *testing.T, path string) {
		info := FromCgroupPath(path)
		if info.ID != "" && !isID(info.ID) {
			t.Fatalf("bad id %q", info.ID)
		}
		if info.ID == "" && info.Runtime != "" {
			t.Fatalf("runtime %q without id", info.Runtime)
		}
	})
}

var sink Info

func BenchmarkFromCgroupPath(b *testing.B) {
	paths := map[string]string{
		"systemd":  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUnder + ".slice/cri-containerd-" + id1 + ".scope",
		"cgroupfs": "/kubepods/burstable/pod" + podDash + "/" + id1,
		"host":     "/user.slice/user-1000.slice/session-3.scope",
	}
	for name, p := range paths {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = FromCgroupPath(p)
			}
		})
	}
}
