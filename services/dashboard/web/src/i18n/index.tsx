// Korean and English UI text: a typed dictionary (see messages.ts), a provider that remembers the
// choice, and `t()` with `{name}` placeholders.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { ApiError } from "../api/client";
import { type Lang, type MessageKey, interpolate, isMessageKey, messages } from "./messages";

interface I18n {
  lang: Lang;
  locale: string;
  setLang: (lang: Lang) => void;
  t: (key: MessageKey, vars?: Record<string, string | number>) => string;
  /** An error in words: the translation of its code when we have one, else the server's message. */
  errorText: (error: unknown) => string;
}

const STORAGE_KEY = "mes.lang";
const I18nContext = createContext<I18n | null>(null);

function initialLang(): Lang {
  const stored = typeof localStorage === "undefined" ? null : localStorage.getItem(STORAGE_KEY);
  if (stored === "ko" || stored === "en") return stored;
  return typeof navigator !== "undefined" && navigator.language.toLowerCase().startsWith("ko") ? "ko" : "en";
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const setLang = useCallback((next: Lang) => {
    setLangState(next);
    localStorage.setItem(STORAGE_KEY, next);
    document.documentElement.lang = next;
  }, []);
  const value = useMemo<I18n>(() => {
    const dict = messages[lang];
    const t = (key: MessageKey, vars?: Record<string, string | number>) => interpolate(dict[key], vars);
    const errorText = (error: unknown) => {
      if (error instanceof ApiError) {
        const key = `error.${error.code}`;
        return isMessageKey(key) ? t(key, stringDetails(error.details)) : error.message;
      }
      return error instanceof Error ? error.message : String(error);
    };
    return { lang, locale: lang === "ko" ? "ko-KR" : "en-US", setLang, t, errorText };
  }, [lang, setLang]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

function stringDetails(details: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(details)) {
    out[key] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return out;
}

export function useI18n(): I18n {
  const value = useContext(I18nContext);
  if (!value) throw new Error("useI18n outside I18nProvider");
  return value;
}
