import { useEffect, useState } from "react";
import { type Session, clearSession, errorText, loadSession, saveSession, signIn } from "./api";
import { BucketsPage } from "./pages/buckets";
import { BrowserPage } from "./pages/browser";
import { ObjectPage } from "./pages/object";
import { PolicyPage } from "./pages/policy";
import { UsersPage, UserPage, GroupsPage, GroupPage, KeysPage, PoliciesPage, ManagedPolicyPage } from "./pages/iam";
import { DrivesPage, UsagePage, MetricsPage } from "./pages/system";

/** The route: `#/path?query`, so the node serves one index.html. */
export interface Route {
  parts: string[];
  params: URLSearchParams;
}

function parseHash(): Route {
  const h = location.hash.replace(/^#\/?/, "");
  const [p, q] = h.split("?");
  return { parts: p ? p.split("/").map(decodeURIComponent) : [], params: new URLSearchParams(q ?? "") };
}

/** A link target for a route. */
export function href(parts: string[], params?: Record<string, string>): string {
  const q = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString() : "";
  return "#/" + parts.map(encodeURIComponent).join("/") + (q ? "?" + q : "");
}

function useRoute(): Route {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

const NAV: [string, string][] = [
  ["buckets", "Buckets"],
  ["users", "Users"],
  ["groups", "Groups"],
  ["keys", "Access keys"],
  ["policies", "Policies"],
  ["drives", "Drives"],
  ["usage", "Usage"],
  ["metrics", "Metrics"],
];

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const route = useRoute();
  if (!session) {
    return (
      <SignIn
        onSignedIn={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  }
  const signOut = () => {
    clearSession();
    setSession(null);
    location.hash = "";
  };
  const top = route.parts[0] ?? "buckets";
  return (
    <div className="app">
      <header className="top">
        <a className="brand" href="#/buckets">
          cairn
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([id, label]) => (
              <li key={id}>
                <a href={`#/${id}`} aria-current={top === id || (id === "buckets" && top === "b") ? "page" : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span title="Signed in with this access key">{session.accessKey}</span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>
        <Page session={session} route={route} />
      </main>
    </div>
  );
}

function Page({ session, route }: { session: Session; route: Route }) {
  const [a, b, c] = route.parts;
  switch (a ?? "buckets") {
    case "buckets":
      return <BucketsPage s={session} />;
    case "b":
      if (c === "object") return <ObjectPage s={session} bucket={b} objectKey={route.params.get("key") ?? ""} />;
      if (c === "policy") return <PolicyPage s={session} bucket={b} />;
      const prefix = route.params.get("prefix") ?? "";
      return <BrowserPage key={`${b}\n${prefix}`} s={session} bucket={b} prefix={prefix} />;
    case "users":
      return b ? <UserPage s={session} name={b} /> : <UsersPage s={session} />;
    case "groups":
      return b ? <GroupPage s={session} name={b} /> : <GroupsPage s={session} />;
    case "keys":
      return <KeysPage s={session} />;
    case "policies":
      return b ? <ManagedPolicyPage s={session} name={b} /> : <PoliciesPage s={session} />;
    case "drives":
      return <DrivesPage s={session} />;
    case "usage":
      return <UsagePage s={session} />;
    case "metrics":
      return <MetricsPage />;
    default:
      return <p>No such page.</p>;
  }
}

function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [accessKey, setAccessKey] = useState("");
  const [secret, setSecret] = useState("");
  const [region, setRegion] = useState("us-east-1");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  return (
    <main className="signin">
      <h1>cairn console</h1>
      <form
        aria-label="Sign in"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError("");
          try {
            onSignedIn(await signIn(accessKey.trim(), secret, region.trim() || "us-east-1"));
          } catch (err) {
            setError(errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>
          Access key
          <input name="accessKey" autoComplete="username" value={accessKey} onChange={(e) => setAccessKey(e.target.value)} required />
        </label>
        <label>
          Secret key
          <input name="secretKey" type="password" autoComplete="current-password" value={secret} onChange={(e) => setSecret(e.target.value)} required />
        </label>
        <label>
          Region
          <input name="region" value={region} onChange={(e) => setRegion(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <p className="muted small">
          The key signs one request for temporary credentials (STS GetSessionToken); only those are kept, in this tab.
        </p>
      </form>
    </main>
  );
}
