// The check runner of the Node tests here (test_wire_js.js, test_kernel_js.js): named checks run
// in the order they were registered, one line each, then a summary.
'use strict';

// A list of checks: check(name, fn) registers a synchronous check (it fails by throwing);
// run(subject) runs them all, prints "ok   <name>" or "FAIL <name>: <message>" for each and
// "<subject>: <passed>/<total> checks passed", and returns the exit code (1 if any failed).
function checkList() {
  const checks = [];
  return {
    check: (name, fn) => checks.push([name, fn]),
    run(subject) {
      let failed = 0;
      for (const [name, fn] of checks) {
        try {
          fn();
          console.log(`ok   ${name}`);
        } catch (e) {
          ++failed;
          console.log(`FAIL ${name}: ${e.message}`);
        }
      }
      console.log(`${subject}: ${checks.length - failed}/${checks.length} checks passed`);
      return failed ? 1 : 0;
    },
  };
}

module.exports = { checkList };
