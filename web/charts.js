// The status page's time-series charts (throughput, queue depth) drawn by uPlot (npm `uplot`,
// copied into web/vendor/ by the build): a filled line over a time window ending now. One uPlot
// per container, created on first use and then given new data (and a new size when the
// container's width changed).
'use strict';

(function (root) {
  function formatValue(v) {
    if (v === null || v === undefined) return '';
    if (v >= 10000) return `${(v / 1000).toFixed(0)}k`;
    if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
    if (v >= 10 || Number.isInteger(v)) return v.toFixed(0);
    return v.toFixed(1);
  }

  // "−2 min", "−1 min", "now": ticks relative to the window's end.
  function relativeTicks(now) {
    return (u, splits) => splits.map((t) => {
      const ago = Math.round((now() - t) / 60);
      return ago <= 0 ? 'now' : `\u2212${ago} min`;
    });
  }

  // Draws points [{t (unix seconds), v}] into `container` (a block element). options: {color,
  // fill, windowS, now (unix seconds), integer (y ticks are whole numbers)}. Without uPlot (the
  // build found no node_modules) it says so in the container.
  function drawSeries(container, points, options) {
    if (typeof root.uPlot !== 'function') {
      container.textContent = 'Charts need the uPlot library: run scripts/install-deps.sh and build again.';
      return;
    }
    const width = container.clientWidth;
    const height = container.clientHeight || 190;
    if (!width) return;
    const visible = points.filter((p) => p.t >= options.now - options.windowS - 1 && Number.isFinite(p.v));
    const data = [visible.map((p) => p.t), visible.map((p) => p.v)];
    let state = container.corvidChart;
    if (!state) {
      state = { now: options.now };
      const chart = new root.uPlot({
        width,
        height,
        legend: { show: false },
        cursor: { y: false, points: { size: 6 } },
        scales: {
          x: { time: false, range: () => [state.now - state.windowS, state.now] },
          y: { range: (u, min, max) => [0, Math.max(options.integer ? 4 : 1, max * 1.15)] },
        },
        axes: [
          { stroke: '#6b7280', grid: { show: false }, values: relativeTicks(() => state.now),
            splits: () => [state.now - state.windowS, state.now - state.windowS / 2, state.now] },
          { stroke: '#6b7280', grid: { stroke: '#eceef3' }, size: 44, values: (u, ticks) => ticks.map(formatValue),
            incrs: options.integer ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000] : undefined },
        ],
        series: [{}, { stroke: options.color, fill: options.fill, width: 2, points: { show: false } }],
      }, data, container);
      state.chart = chart;
      container.corvidChart = state;
    }
    state.now = options.now;
    state.windowS = options.windowS;
    if (state.chart.width !== width || state.chart.height !== height) state.chart.setSize({ width, height });
    state.chart.setData(data);
  }

  root.CorvidCharts = { drawSeries };
})(typeof self !== 'undefined' ? self : this);
