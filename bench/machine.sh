# Sourced by the bench/run-* scripts. `machine_table BEFORE AFTER` prints
# the Markdown table of the machine a result was taken on: CPU, cores,
# memory, OS, compiler, the commit (and whether it had uncommitted
# changes) and the load average before and after the run, which tells
# whether another process competed for the cores.
machine_table() {
  local cpu mem_gb commit dirty
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  mem_gb=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
  echo "| machine | |"
  echo "|---|---|"
  echo "| CPU | ${cpu} |"
  echo "| cores (nproc) | $(nproc) |"
  echo "| memory | ${mem_gb} GB |"
  echo "| OS | $(uname -sr) |"
  echo "| rustc | $(rustc -V) |"
  echo "| profile | cargo \`bench\` / release (optimised) |"
  echo "| commit | ${commit}${dirty} |"
  echo "| load average before / after | $1 / $2 |"
}
