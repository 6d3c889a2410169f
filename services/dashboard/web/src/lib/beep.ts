// Audible cues at the station (WebAudio; nothing to download): a rising double beep for OK, a
// low buzz for an error, so the operator need not look at the screen.

let context: AudioContext | null = null;

function audio(): AudioContext | null {
  if (typeof window === "undefined" || typeof window.AudioContext === "undefined") return null;
  context ??= new window.AudioContext();
  // Browsers start audio suspended until a user gesture; a scanner's key presses count.
  if (context.state === "suspended") void context.resume();
  return context;
}

function tone(ctx: AudioContext, frequency: number, start: number, seconds: number, type: OscillatorType): void {
  const oscillator = ctx.createOscillator();
  const gain = ctx.createGain();
  oscillator.type = type;
  oscillator.frequency.value = frequency;
  gain.gain.setValueAtTime(0.0001, ctx.currentTime + start);
  gain.gain.exponentialRampToValueAtTime(0.3, ctx.currentTime + start + 0.01);
  gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + start + seconds);
  oscillator.connect(gain).connect(ctx.destination);
  oscillator.start(ctx.currentTime + start);
  oscillator.stop(ctx.currentTime + start + seconds + 0.02);
}

export type Cue = "ok" | "error" | "info";

/** Plays a cue; returns false when the browser has no audio. */
export function playCue(cue: Cue): boolean {
  const ctx = audio();
  if (!ctx) return false;
  if (cue === "ok") {
    tone(ctx, 880, 0, 0.09, "sine");
    tone(ctx, 1320, 0.11, 0.12, "sine");
  } else if (cue === "error") {
    tone(ctx, 180, 0, 0.6, "square");
  } else {
    tone(ctx, 660, 0, 0.08, "sine");
  }
  return true;
}
