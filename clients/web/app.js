// Browser client: microphone and translated speech over WebRTC, signalling and captions over the
// server's /v1/webrtc WebSocket. Plain JS, no build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $("controls"),
    from: $("from"),
    to: $("to"),
    mode: $("mode"),
    voice: $("voice"),
    room: $("room"),
    call: $("call"),
    roomName: $("room-name"),
    roomLink: $("room-link"),
    party: $("party"),
    headings: { source: $("source-heading"), target: $("target-heading") },
    start: $("start"),
    stop: $("stop"),
    status: $("status"),
    errors: $("errors"),
    latency: $("latency"),
    player: $("player"),
    panes: { source: $("source-captions"), target: $("target-captions") },
  };

  const params = new URLSearchParams(location.search);
  const GATHER_TIMEOUT_MS = 5000; // with STUN/TURN servers, send what was gathered by then
  const END_TIMEOUT_MS = 20000; // after Stop, give up waiting for session.ended
  const PLAYOUT_MS = 500; // after session.ended, let the last words leave the browser's jitter buffer

  // Test hooks: read by automated browser tests, never written by them.
  const s2st = {
    state: "idle", // idle | connecting | live | ended | error
    sessionId: null,
    captions: { source: {}, target: {} }, // utterance id -> the text its line shows
    finals: { source: 0, target: 0 },
    errors: [], // {code, message, fatal}
    metrics: [], // the server's metrics messages, in order
    room: null, // in a call: {id, other: null | {source_language, target_language}, left: false}
    async inboundAudio() {
      return call ? readInbound(call.pc) : lastInbound;
    },
  };
  window.s2st = s2st;

  let call = null; // {pc, ws, mic, remote, endTimer} while a session runs
  let audioContext = null;
  let lastInbound = { totalAudioEnergy: 0, totalSamplesReceived: 0, bytesReceived: 0 };
  const lines = { source: new Map(), target: new Map() }; // utterance id -> {line, committed, tentative}
  const finalIds = { source: new Set(), target: new Set() };
  const ttfas = [];

  const iceServers = parseIceServers();
  // In a call, the second language is the one I hear: the other side's speech is translated into it.
  const labelLanguages = () => {
    $("to-label").textContent = ui.room.value ? "I want to hear" : "Translate into";
  };
  if (params.get("room")) ui.room.value = params.get("room");
  ui.room.addEventListener("input", labelLanguages);
  labelLanguages();

  function parseIceServers() {
    const raw = params.get("ice");
    if (!raw) return []; // host candidates only: enough on localhost and a LAN
    try {
      const servers = JSON.parse(raw);
      if (!Array.isArray(servers)) throw new Error("not a list");
      return servers;
    } catch (err) {
      showError({
        code: "bad_ice",
        message: `Ignoring ?ice=: it must be a JSON list of ICE servers, like [{"urls":"stun:host:3478"}] (${err.message}).`,
        fatal: false,
      });
      return [];
    }
  }

  function setState(state, status) {
    s2st.state = state;
    document.body.dataset.state = state;
    if (status) ui.status.textContent = status;
    const running = state === "connecting" || state === "live";
    ui.start.disabled = running;
    ui.stop.disabled = !running;
    for (const select of [ui.from, ui.to, ui.mode, ui.voice, ui.room]) select.disabled = running;
  }

  function showError({ code, message, fatal }) {
    const error = { code: code || "error", message: message || "Unknown error.", fatal: Boolean(fatal) };
    s2st.errors.push(error);
    const item = document.createElement("p");
    item.textContent = error.message;
    item.dataset.code = error.code;
    ui.errors.append(item);
    if (error.fatal) {
      setState("error", "Stopped because of an error.");
      teardown();
    }
  }

  function signallingUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const token = params.get("token");
    return `${scheme}//${location.host}/v1/webrtc${token ? `?token=${encodeURIComponent(token)}` : ""}`;
  }

  function resetCaptions() {
    for (const side of ["source", "target"]) {
      ui.panes[side].replaceChildren();
      lines[side].clear();
      finalIds[side].clear();
      s2st.captions[side] = {};
      s2st.finals[side] = 0;
    }
    ui.errors.replaceChildren();
    s2st.errors = [];
    s2st.metrics = [];
    s2st.room = null;
    ui.call.hidden = true;
    ui.headings.source.textContent = "You said";
    ui.headings.target.textContent = "Translation";
    ttfas.length = 0;
    ui.latency.textContent = "Latency: no translation yet.";
  }

  // Chinese runs its words together; English, German and Korean separate them with spaces.
  const CJK = /[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]/;
  function joinText(committed, tentative) {
    if (!committed || !tentative) return committed + tentative;
    const glued = /\s$/.test(committed) || /^\s/.test(tentative) || CJK.test(committed.slice(-1)) || CJK.test(tentative[0]);
    return glued ? committed + tentative : `${committed} ${tentative}`;
  }

  function captionLine(side, id) {
    let entry = lines[side].get(id);
    if (!entry) {
      const line = document.createElement("p");
      line.className = "line";
      line.dataset.utteranceId = id;
      const committed = document.createElement("span");
      committed.className = "committed";
      const tentative = document.createElement("span");
      tentative.className = "tentative";
      line.append(committed, tentative);
      const pane = ui.panes[side];
      const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
      pane.append(line);
      if (atBottom) pane.scrollTop = pane.scrollHeight;
      entry = { line, committed, tentative };
      lines[side].set(id, entry);
    }
    return entry;
  }

  function updateCaption(side, msg) {
    const id = String(msg.utterance_id);
    const entry = captionLine(side, id);
    const committed = msg.text || "";
    const tentative = msg.final ? "" : msg.tentative || "";
    const shown = joinText(committed, tentative);
    entry.committed.textContent = committed;
    entry.tentative.textContent = shown.slice(committed.length);
    if (msg.language) entry.line.lang = msg.language;
    entry.line.classList.remove("listening");
    entry.line.classList.toggle("final", Boolean(msg.final));
    s2st.captions[side][id] = shown;
    if (msg.final && !finalIds[side].has(id)) {
      finalIds[side].add(id);
      s2st.finals[side] += 1;
    }
    const pane = ui.panes[side];
    if (pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80) pane.scrollTop = pane.scrollHeight;
  }

  function median(values) {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  function showMetrics(msg) {
    s2st.metrics.push(msg);
    if (typeof msg.ttfa_ms !== "number") return;
    ttfas.push(msg.ttfa_ms);
    const last = Math.round(msg.ttfa_ms);
    const med = Math.round(median(ttfas));
    ui.latency.textContent = `Time to first audio: last ${last} ms, median ${med} ms over ${ttfas.length}.`;
  }

  // In a call the panes show the two people: what I said, and what the other said, in the words I hear
  // (their translation into my language). The rest (my translation for them, their original) stays out.
  function paneOf(msg) {
    if (!s2st.room) return msg.type === "transcript" ? "source" : "target";
    if (msg.party === "self") return msg.type === "transcript" ? "source" : null;
    return msg.type === "translation" ? "target" : null;
  }

  function showRoom(msg) {
    s2st.room = { id: msg.room, other: null, left: false };
    const link = `${location.origin}${location.pathname}?room=${encodeURIComponent(msg.room)}`;
    ui.roomName.textContent = msg.room;
    ui.roomLink.textContent = link;
    ui.roomLink.href = link;
    ui.party.textContent = "Waiting for the other participant…";
    ui.call.hidden = false;
    ui.headings.source.textContent = "You said";
    ui.headings.target.textContent = "They said";
  }

  function handleRoomMessage(msg) {
    switch (msg.type) {
      case "room.party_joined":
        s2st.room.other = { source_language: msg.source_language, target_language: msg.target_language };
        ui.party.textContent = `The other participant is in (speaking ${msg.source_language}).`;
        return true;
      case "room.party_left":
        s2st.room.left = true;
        ui.party.textContent = "The other participant left; the call is over.";
        return true;
      case "speech.started":
      case "speech.ended": {
        const speaking = msg.type === "speech.started";
        const who = msg.party === "self" ? "You are" : "They are";
        ui.status.textContent = speaking ? `${who} speaking…` : "Live.";
        if (speaking && msg.party === "self") captionLine("source", String(msg.utterance_id)).line.classList.add("listening");
        return true;
      }
      case "audio.start":
      case "audio.end":
        ui.status.textContent = msg.type === "audio.start" ? "Playing their words…" : "Live.";
        return true;
      default:
        return false;
    }
  }

  function handleMessage(msg) {
    if (s2st.room && handleRoomMessage(msg)) return;
    switch (msg.type) {
      case "webrtc.answer":
        call.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp }).catch((err) =>
          showError({ code: "webrtc_answer", message: `The server's answer was refused: ${err.message}`, fatal: true }),
        );
        break;
      case "session.started":
        s2st.sessionId = msg.session_id ?? null;
        if (msg.room) showRoom(msg);
        setState("live", msg.room ? "Live: in the call room." : "Live: speak now.");
        break;
      case "speech.started":
        captionLine("source", String(msg.utterance_id)).line.classList.add("listening");
        ui.status.textContent = "Listening…";
        break;
      case "speech.ended":
        ui.status.textContent = "Translating…";
        break;
      case "transcript":
      case "translation": {
        const pane = paneOf(msg);
        if (pane) updateCaption(pane, msg);
        break;
      }
      case "audio.start":
        captionLine("target", String(msg.utterance_id)).line.classList.add("speaking");
        ui.status.textContent = "Speaking the translation…";
        break;
      case "audio.end":
        captionLine("target", String(msg.utterance_id)).line.classList.remove("speaking");
        if (s2st.state === "live") ui.status.textContent = "Live: speak now.";
        break;
      case "metrics":
        showMetrics(msg);
        break;
      case "voice.updated": {
        const seconds = typeof msg.duration_s === "number" ? `${msg.duration_s.toFixed(1)} s` : "a clip";
        const said = msg.transcript ? `: “${msg.transcript}”` : "";
        const text = {
          captured: `Your voice was captured from ${seconds}${said}`,
          explicit: `Speaking in the voice of your reference clip (${seconds})`,
          default: "Speaking in the server's default voice",
        };
        ui.status.textContent = text[msg.source] || text.captured;
        break;
      }
      case "error":
        showError(msg);
        break;
      case "session.ended":
        setState("ended", "Session ended.");
        teardown(PLAYOUT_MS);
        break;
      default:
        console.debug("s2st: ignoring message", msg.type);
    }
  }

  function iceGatheringComplete(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (pc.iceGatheringState !== "complete") return;
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, GATHER_TIMEOUT_MS);
    });
  }

  function openSocket(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error(`could not connect to ${url.split("?")[0]}`));
    });
  }

  async function start(event) {
    event.preventDefault();
    if (call || s2st.state === "connecting") return;
    if (ui.from.value === ui.to.value) {
      showError({ code: "same_language", message: "Pick a target language different from the one you speak.", fatal: false });
      return;
    }
    // Created inside the click, so the browser lets the translated speech play without another gesture.
    audioContext = audioContext || new AudioContext();
    audioContext.resume().catch(() => {});
    resetCaptions();
    setState("connecting", "Asking for the microphone…");
    s2st.sessionId = null;
    call = { pc: null, ws: null, mic: null, remote: null, endTimer: null };
    const current = call;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
      current.mic = stream.getAudioTracks()[0];
      if (call !== current) return teardownCall(current);

      ui.status.textContent = "Connecting…";
      const pc = new RTCPeerConnection({ iceServers });
      current.pc = pc;
      pc.addTrack(current.mic, stream);
      pc.ontrack = (e) => {
        current.remote = e.streams[0] || new MediaStream([e.track]);
        ui.player.srcObject = current.remote;
        ui.player.play().catch((err) =>
          showError({ code: "autoplay", message: `The browser would not play the translation: ${err.message}`, fatal: false }),
        );
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "failed" && call === current) {
          showError({
            code: "webrtc_failed",
            message: "The audio connection failed. A firewall may block it; a TURN server can help (?ice=…).",
            fatal: true,
          });
        }
      };
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringComplete(pc);

      const ws = await openSocket(signallingUrl());
      current.ws = ws;
      if (call !== current) return teardownCall(current);
      ws.onmessage = (e) => {
        if (call !== current) return;
        let msg;
        try {
          msg = JSON.parse(e.data);
        } catch {
          return showError({ code: "bad_message", message: "The server sent a message that is not JSON.", fatal: false });
        }
        handleMessage(msg);
      };
      ws.onclose = (e) => {
        if (call !== current) return;
        const why = e.reason ? `: ${e.reason}` : ` (code ${e.code})`;
        showError({ code: "connection_lost", message: `The connection to the server closed${why}.`, fatal: true });
      };
      ws.send(
        JSON.stringify({
          type: "session.start",
          source_language: ui.from.value,
          target_language: ui.to.value,
          mode: ui.mode.value,
          voice: ui.voice.value,
          ...(ui.room.value ? { room: ui.room.value } : {}),
          sdp: pc.localDescription.sdp,
        }),
      );
      ui.status.textContent = "Starting the session…";
    } catch (err) {
      if (call !== current) return;
      const denied = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
      showError({
        code: denied ? "microphone_denied" : "start_failed",
        message: denied
          ? "The microphone was blocked. Allow it for this page (and use https or localhost), then press Start."
          : `Could not start: ${err.message || err}`,
        fatal: true,
      });
    }
  }

  function stop() {
    if (!call) return;
    ui.stop.disabled = true;
    if (call.mic) call.mic.stop();
    if (call.ws && call.ws.readyState === WebSocket.OPEN) {
      call.ws.send(JSON.stringify({ type: "input.end" }));
      ui.status.textContent = "Finishing the last sentence…";
      const current = call;
      current.endTimer = setTimeout(() => {
        if (call !== current) return;
        setState("ended", "Session ended (the server did not confirm).");
        teardown();
      }, END_TIMEOUT_MS);
    } else {
      setState("ended", "Stopped.");
      teardown();
    }
  }

  async function readInbound(pc) {
    const stats = await pc.getStats();
    for (const report of stats.values()) {
      if (report.type === "inbound-rtp" && (report.kind || report.mediaType) === "audio") {
        return {
          totalAudioEnergy: report.totalAudioEnergy || 0,
          totalSamplesReceived: report.totalSamplesReceived || 0,
          bytesReceived: report.bytesReceived || 0,
        };
      }
    }
    return { totalAudioEnergy: 0, totalSamplesReceived: 0, bytesReceived: 0 };
  }

  function teardown(playoutMs = 0) {
    if (!call) return;
    const current = call;
    call = null;
    teardownCall(current, playoutMs);
  }

  async function teardownCall(current, playoutMs = 0) {
    clearTimeout(current.endTimer);
    if (current.mic) current.mic.stop();
    if (current.ws) {
      current.ws.onclose = null;
      current.ws.close();
    }
    if (current.pc) {
      if (playoutMs) await new Promise((resolve) => setTimeout(resolve, playoutMs));
      try {
        lastInbound = await readInbound(current.pc); // so the hook still answers after the call
      } catch {
        // a closed connection has no statistics left; keep the previous snapshot
      }
      current.pc.close();
    }
    if (current.remote && ui.player.srcObject === current.remote) ui.player.srcObject = null;
  }

  ui.form.addEventListener("submit", start);
  ui.stop.addEventListener("click", stop);
  window.addEventListener("pagehide", () => teardown());
  setState("idle");
})();
