// Hand-drawn time-series charts on a canvas for the status page (throughput, queue depth):
// a filled line over a time window ending now, with a "nice" y axis, gridlines, minute ticks
// and the latest value. Sharp on high-density screens.
'use strict';

(function (root) {
  // The smallest "nice" step (1, 2, 2.5 or 5 × 10^k) that splits max into at most `ticks` parts.
  function niceStep(max, ticks) {
    const raw = max / ticks;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= raw) return m * power;
    return 10 * power;
  }

  function formatValue(v) {
    if (v >= 10000) return `${(v / 1000).toFixed(0)}k`;
    if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
    if (v >= 10 || Number.isInteger(v)) return v.toFixed(0);
    return v.toFixed(1);
  }

  // Draws points [{t (seconds), v}] on canvas. options: {color, fill, windowS, now (seconds),
  // unit (label of the latest value), integer (y ticks are whole numbers)}.
  function drawSeries(canvas, points, options) {
    const dpr = root.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);

    const windowS = options.windowS;
    const now = options.now;
    const visible = points.filter((p) => p.t >= now - windowS - 1 && Number.isFinite(p.v));
    const maxV = Math.max(0, ...visible.map((p) => p.v));
    let step = niceStep(Math.max(maxV, options.integer ? 4 : 1) * 1.1, 4);
    if (options.integer) step = Math.max(1, Math.ceil(step));
    const top = Math.ceil((maxV * 1.05) / step) * step || step;

    ctx.font = '11px system-ui, -apple-system, "Segoe UI", sans-serif';
    const labelW = Math.max(...[0, top / 2, top].map((v) => ctx.measureText(formatValue(v)).width));
    const pad = { left: Math.ceil(labelW) + 10, right: 8, top: 10, bottom: 20 };
    const plotW = w - pad.left - pad.right, plotH = h - pad.top - pad.bottom;
    const x = (t) => pad.left + plotW * (1 - (now - t) / windowS);
    const y = (v) => pad.top + plotH * (1 - v / top);

    // Gridlines and y labels.
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let v = 0; v <= top + step / 2; v += step) {
      const yy = Math.round(y(v)) + .5;
      ctx.strokeStyle = v === 0 ? '#cfd4dd' : '#eceef3';
      ctx.beginPath(); ctx.moveTo(pad.left, yy); ctx.lineTo(w - pad.right, yy); ctx.stroke();
      ctx.fillStyle = '#697386';
      ctx.fillText(formatValue(v), pad.left - 6, yy);
    }
    // Minute ticks along the time axis.
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const minutes = windowS / 60;
    const every = minutes > 6 ? 2 : 1;
    for (let m = 0; m <= minutes; m += every) {
      const xx = Math.round(x(now - m * 60)) + .5;
      ctx.strokeStyle = '#cfd4dd';
      ctx.beginPath(); ctx.moveTo(xx, pad.top + plotH); ctx.lineTo(xx, pad.top + plotH + 4); ctx.stroke();
      ctx.fillStyle = '#697386';
      ctx.textAlign = m === 0 ? 'right' : 'center';
      ctx.fillText(m === 0 ? 'now' : `−${m} min`, m === 0 ? xx + 1 : xx, pad.top + plotH + 6);
    }

    if (visible.length === 0) {
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillStyle = '#9aa1b0';
      ctx.fillText('no data yet', pad.left + plotW / 2, pad.top + plotH / 2);
      return;
    }

    // The series: an area and its line; gaps of more than 5 s break the line.
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.left, pad.top - 2, plotW, plotH + 4);
    ctx.clip();
    const runs = [];
    let run = [];
    for (const p of visible) {
      if (run.length && p.t - run[run.length - 1].t > 5) { runs.push(run); run = []; }
      run.push(p);
    }
    runs.push(run);
    for (const r of runs) {
      ctx.beginPath();
      r.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v))));
      ctx.strokeStyle = options.color;
      ctx.lineWidth = 1.8;
      ctx.lineJoin = 'round';
      ctx.stroke();
      ctx.lineTo(x(r[r.length - 1].t), y(0));
      ctx.lineTo(x(r[0].t), y(0));
      ctx.closePath();
      ctx.fillStyle = options.fill;
      ctx.fill();
    }
    const last = visible[visible.length - 1];
    ctx.beginPath();
    ctx.arc(x(last.t), y(last.v), 3.2, 0, 2 * Math.PI);
    ctx.fillStyle = options.color;
    ctx.fill();
    ctx.restore();
  }

  root.CorvidCharts = { drawSeries };
})(typeof self !== 'undefined' ? self : this);
