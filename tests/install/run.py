#!/usr/bin/python3
"""libcorvid in a developer's own project, as README says to use it: `cmake --install` into a
temporary prefix; the project in project/ configured with find_package(corvid) and built; the same
program built with `pkg-config --cflags --libs corvid`; the project in subdirectory/ configured
with add_subdirectory of this checkout; the installed Python package imported from its prefix. The built
programs (and the package) compute a + b against a real
corvid-server and corvid-worker. Usage: run.py --build-dir B --source-dir S --server-bin B --worker-bin B"""

import argparse
import glob
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Cluster, TestFailure, check  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, what, env=None, timeout=240):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    check(p.returncode == 0, f"{what} failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout


def check_hello(cluster, program, what):
    env = cluster.env()
    env["CORVID_SERVER"] = cluster.url
    out = run([program], what, env=env, timeout=60)
    print(f"{what}:\n{out}")
    check("c: [6, 24, 10]" in out, f"{what}: expected 'c: [6, 24, 10]' in its output")
    check("computed" in out, f"{what}: expected the report to say computed")
    # Without a token the program reports the error instead of dying.
    env.pop("CORVID_TOKEN")
    env.pop("CORVID_DATA_DIR", None)
    p = subprocess.run([program], capture_output=True, text=True, env=env, timeout=60, cwd=cluster.dir)
    check(p.returncode == 1 and "hello:" in p.stderr and "token" in p.stderr,
          f"{what} without a token: exit {p.returncode}, stderr {p.stderr!r}")


def main():
    parser = argparse.ArgumentParser()
    for arg in ("--build-dir", "--source-dir", "--server-bin", "--worker-bin"):
        parser.add_argument(arg, required=True)
    args = parser.parse_args()

    class Bins:
        server, worker, corvid, snippet = args.server_bin, args.worker_bin, None, None

    cluster = Cluster(Bins, "install")
    try:
        prefix = os.path.join(cluster.dir, "prefix")
        run(["cmake", "--install", args.build_dir, "--prefix", prefix], "cmake --install")
        for path in ("lib/cmake/corvid/corvidConfig.cmake", "lib/pkgconfig/corvid.pc", "include/corvid/corvid/corvid.hpp",
                     "include/corvid/shared/tensor.hpp", "lib/libcorvid.a"):
            check(os.path.exists(os.path.join(prefix, path)), f"cmake --install did not install {path}")

        # The Python package, when the build has it: under the prefix, where the system python3
        # looks (lib/python3.X/dist-packages for /usr/local).
        python_dir = None
        if os.path.isdir(os.path.join(args.build_dir, "python", "corvid")):
            found = glob.glob(os.path.join(prefix, "lib", "python3*", "*-packages", "corvid", "__init__.py"))
            check(found, f"cmake --install did not install the Python package under {prefix}/lib")
            python_dir = os.path.dirname(os.path.dirname(found[0]))

        project_build = os.path.join(cluster.dir, "project-build")
        run(["cmake", "-S", os.path.join(HERE, "project"), "-B", project_build, f"-DCMAKE_PREFIX_PATH={prefix}"],
            "configuring a project with find_package(corvid)")
        run(["cmake", "--build", project_build], "building it")

        pc_program = os.path.join(cluster.dir, "hello-pkg-config")
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        flags = run(["pkg-config", "--cflags", "--libs", "corvid"], "pkg-config", env=env).split()
        run(["g++", os.path.join(HERE, "project", "main.cpp"), "-o", pc_program, *flags], "building with pkg-config")

        sub_build = os.path.join(cluster.dir, "subdirectory-build")
        out = run(["cmake", "-S", os.path.join(HERE, "subdirectory"), "-B", sub_build,
                   f"-DCORVID_SOURCE_DIR={args.source_dir}", "-DCMAKE_BUILD_TYPE=Release"],
                  "configuring a project with add_subdirectory of the checkout")
        check(os.path.exists(os.path.join(sub_build, "Makefile")) or os.path.exists(os.path.join(sub_build, "build.ninja")),
              f"add_subdirectory: no build files generated:\n{out}")

        cluster.start_server()
        cluster.start_worker("w1")
        cluster.wait_workers_ready(["w1"])
        check_hello(cluster, os.path.join(project_build, "hello"), "the find_package program")
        check_hello(cluster, pc_program, "the pkg-config program")
        if python_dir:
            env = dict(cluster.env(), CORVID_SERVER=cluster.url, PYTHONPATH=python_dir)
            out = run(["/usr/bin/python3", "-c", "import corvid as R; g = R.Graph(name='test'); "
                       "print('c:', (R.t([1, 2, 3]) + R.t([5, 22, 7]))()); print(g.end())"],
                      "the installed Python package", env=env, timeout=60)
            check("c: [ 6 24 10]" in out, f"the installed Python package printed {out!r}")
    except TestFailure as e:
        print(f"FAILED: {e}")
        cluster.dump_logs()
        return 1
    finally:
        cluster.stop()
    shutil.rmtree(cluster.dir, ignore_errors=True)
    print("install: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
