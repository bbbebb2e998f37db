// Users, groups, access keys and managed policies, over the admin API.
import { useState } from "react";
import { type Session, admin } from "../api";
import { href } from "../app";
import { ErrorBox, Form, Loading, fmtTime, useAction, useLoad } from "../ui";
import { checkPolicy } from "./policy";

interface User {
  name: string;
  enabled: boolean;
  createdAt: string;
  groups: string[];
  policies: string[];
  accessKeys?: AccessKey[];
}
interface Group {
  name: string;
  createdAt: string;
  members: string[];
  policies: string[];
}
interface AccessKey {
  accessKey: string;
  secretKey?: string;
  user: string;
  type: string;
  name: string;
  description: string;
  status: string;
  createdAt: string;
  expiration: string | null;
  expired: boolean;
  lastUsed: { at: string } | null;
}
interface Policy {
  name: string;
  description: string;
  attachments: number;
  updatedAt: string;
  document?: unknown;
  attachedTo?: { users: string[]; groups: string[] };
}

const enc = encodeURIComponent;
const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

/** Two-step delete: a button, then "Delete NAME" and "Cancel". */
function DeleteButton({ what, onDelete, busy }: { what: string; onDelete: () => void; busy: boolean }) {
  const [confirm, setConfirm] = useState(false);
  if (!confirm)
    return (
      <button type="button" className="danger" onClick={() => setConfirm(true)}>
        Delete
      </button>
    );
  return (
    <>
      <button type="button" className="danger" disabled={busy} onClick={onDelete}>
        Delete {what}
      </button>{" "}
      <button type="button" onClick={() => setConfirm(false)}>
        Cancel
      </button>
    </>
  );
}

export function UsersPage({ s }: { s: Session }) {
  const users = useLoad(() => admin<{ users: User[] }>(s, "GET", "users"), [s]);
  const [name, setName] = useState("");
  const [policies, setPolicies] = useState("");
  const act = useAction();
  return (
    <section>
      <h1>Users</h1>
      <Form
        label="Create user"
        onSubmit={() =>
          act.run(async () => {
            await admin(s, "POST", "users", { name: name.trim(), policies: list(policies) });
            setName("");
            setPolicies("");
            users.reload();
          })
        }
      >
        <label>
          New user
          <input name="user" value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label>
          Policies (comma-separated)
          <input name="policies" value={policies} onChange={(e) => setPolicies(e.target.value)} />
        </label>
        <button type="submit" disabled={act.busy}>
          Create user
        </button>
      </Form>
      <ErrorBox error={act.error ?? users.error} />
      {!users.data && !users.error && <Loading what="users" />}
      {users.data && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Status</th>
                <th>Groups</th>
                <th>Policies</th>
                <th>Created</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {users.data.users.map((u) => (
                <tr key={u.name} data-user={u.name}>
                  <td>
                    <a href={href(["users", u.name])}>{u.name}</a>
                  </td>
                  <td>{u.enabled ? "enabled" : "disabled"}</td>
                  <td>{u.groups.join(", ") || "–"}</td>
                  <td>{u.policies.join(", ") || "–"}</td>
                  <td>{fmtTime(u.createdAt)}</td>
                  <td className="actions">
                    <button
                      type="button"
                      disabled={act.busy}
                      onClick={() => act.run(async () => (await admin(s, "POST", `users/${enc(u.name)}/${u.enabled ? "disable" : "enable"}`), users.reload()))}
                    >
                      {u.enabled ? "Disable" : "Enable"}
                    </button>{" "}
                    <DeleteButton what={u.name} busy={act.busy} onDelete={() => act.run(async () => (await admin(s, "DELETE", `users/${enc(u.name)}`), users.reload()))} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** Attach and detach managed policies to a user or group. */
function PolicyAttachments({ s, kind, name, attached, onChange }: { s: Session; kind: "users" | "groups"; name: string; attached: string[]; onChange: () => void }) {
  const all = useLoad(() => admin<{ policies: Policy[] }>(s, "GET", "policies"), [s]);
  const [pick, setPick] = useState("");
  const act = useAction();
  const free = (all.data?.policies ?? []).map((p) => p.name).filter((p) => !attached.includes(p));
  return (
    <>
      <h2>Policies</h2>
      <ul>
        {attached.map((p) => (
          <li key={p}>
            <a href={href(["policies", p])}>{p}</a>{" "}
            <button type="button" disabled={act.busy} onClick={() => act.run(async () => (await admin(s, "POST", `policies/${enc(p)}/detach`, { [kind]: [name] }), onChange()))}>
              Detach
            </button>
          </li>
        ))}
        {attached.length === 0 && <li className="muted">none</li>}
      </ul>
      <Form label="Attach policy" onSubmit={() => pick && act.run(async () => (await admin(s, "POST", `policies/${enc(pick)}/attach`, { [kind]: [name] }), setPick(""), onChange()))}>
        <label>
          Policy
          <select name="attach" value={pick} onChange={(e) => setPick(e.target.value)}>
            <option value="">choose…</option>
            {free.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={act.busy || !pick}>
          Attach
        </button>
      </Form>
      <ErrorBox error={act.error ?? all.error} />
    </>
  );
}

export function UserPage({ s, name }: { s: Session; name: string }) {
  const user = useLoad(() => admin<User>(s, "GET", `users/${enc(name)}`), [s, name]);
  return (
    <section>
      <nav className="crumbs" aria-label="Breadcrumbs">
        <a href="#/users">Users</a> / {name}
      </nav>
      <h1>User {name}</h1>
      <ErrorBox error={user.error} />
      {!user.data && !user.error && <Loading what="the user" />}
      {user.data && (
        <>
          <p>
            {user.data.enabled ? "Enabled" : "Disabled"}; groups: {user.data.groups.map((g) => <a key={g} href={href(["groups", g])}>{g} </a>)}
            {user.data.groups.length === 0 && "none"}
          </p>
          <PolicyAttachments s={s} kind="users" name={name} attached={user.data.policies} onChange={user.reload} />
          <Keys s={s} user={name} keys={user.data.accessKeys ?? []} onChange={user.reload} />
        </>
      )}
    </section>
  );
}

function NewKey({ k }: { k: AccessKey }) {
  return (
    <div className="secret" role="status">
      <p>
        <strong>New key: copy the secret now, it is not shown again.</strong>
      </p>
      <dl className="meta">
        <div>
          <dt>Access key</dt>
          <dd className="mono" data-testid="new-access-key">
            {k.accessKey}
          </dd>
        </div>
        <div>
          <dt>Secret key</dt>
          <dd className="mono" data-testid="new-secret-key">
            {k.secretKey}
          </dd>
        </div>
      </dl>
    </div>
  );
}

function KeyTable({ s, keys, onChange, showUser }: { s: Session; keys: AccessKey[]; onChange: () => void; showUser?: boolean }) {
  const act = useAction();
  return (
    <>
      <ErrorBox error={act.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Access key</th>
              {showUser && <th>User</th>}
              <th>Type</th>
              <th>Status</th>
              <th>Description</th>
              <th>Last used</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.accessKey} data-key={k.accessKey}>
                <td className="mono">{k.accessKey}</td>
                {showUser && (
                  <td>
                    <a href={href(["users", k.user])}>{k.user}</a>
                  </td>
                )}
                <td>{k.type === "serviceAccount" ? `service account${k.name ? ` ${k.name}` : ""}` : "access key"}</td>
                <td>{k.expired ? "expired" : k.status}</td>
                <td>{k.description || "–"}</td>
                <td>{fmtTime(k.lastUsed?.at)}</td>
                <td className="actions">
                  <button
                    type="button"
                    disabled={act.busy}
                    onClick={() =>
                      act.run(async () => (await admin(s, "PUT", `accesskeys/${enc(k.accessKey)}`, { status: k.status === "Active" ? "Inactive" : "Active" }), onChange()))
                    }
                  >
                    {k.status === "Active" ? "Deactivate" : "Activate"}
                  </button>{" "}
                  <DeleteButton what={k.accessKey} busy={act.busy} onDelete={() => act.run(async () => (await admin(s, "DELETE", `accesskeys/${enc(k.accessKey)}`), onChange()))} />
                </td>
              </tr>
            ))}
            {keys.length === 0 && (
              <tr>
                <td colSpan={showUser ? 7 : 6} className="muted">
                  No keys.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </>
  );
}

function CreateKey({ s, user, onCreated }: { s: Session; user?: string; onCreated: () => void }) {
  const [owner, setOwner] = useState(user ?? "");
  const [type, setType] = useState("accessKey");
  const [description, setDescription] = useState("");
  const [made, setMade] = useState<AccessKey | null>(null);
  const act = useAction();
  return (
    <>
      <Form
        label="Create access key"
        onSubmit={() =>
          act.run(async () => {
            const body: Record<string, string> = { user: owner.trim(), type };
            if (description) body.description = description;
            setMade(await admin<AccessKey>(s, "POST", "accesskeys", body));
            setDescription("");
            onCreated();
          })
        }
      >
        {user === undefined && (
          <label>
            User
            <input name="keyUser" value={owner} onChange={(e) => setOwner(e.target.value)} required />
          </label>
        )}
        <label>
          Type
          <select name="keyType" value={type} onChange={(e) => setType(e.target.value)}>
            <option value="accessKey">access key</option>
            <option value="serviceAccount">service account</option>
          </select>
        </label>
        <label>
          Description
          <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <button type="submit" disabled={act.busy}>
          Create key
        </button>
      </Form>
      <ErrorBox error={act.error} />
      {made && <NewKey k={made} />}
    </>
  );
}

function Keys({ s, user, keys, onChange }: { s: Session; user: string; keys: AccessKey[]; onChange: () => void }) {
  return (
    <>
      <h2>Access keys</h2>
      <CreateKey s={s} user={user} onCreated={onChange} />
      <KeyTable s={s} keys={keys} onChange={onChange} />
    </>
  );
}

export function KeysPage({ s }: { s: Session }) {
  const keys = useLoad(() => admin<{ accessKeys: AccessKey[] }>(s, "GET", "accesskeys"), [s]);
  return (
    <section>
      <h1>Access keys</h1>
      <CreateKey s={s} onCreated={keys.reload} />
      <ErrorBox error={keys.error} />
      {!keys.data && !keys.error && <Loading what="keys" />}
      {keys.data && <KeyTable s={s} keys={keys.data.accessKeys} onChange={keys.reload} showUser />}
    </section>
  );
}

export function GroupsPage({ s }: { s: Session }) {
  const groups = useLoad(() => admin<{ groups: Group[] }>(s, "GET", "groups"), [s]);
  const [name, setName] = useState("");
  const [members, setMembers] = useState("");
  const act = useAction();
  return (
    <section>
      <h1>Groups</h1>
      <Form
        label="Create group"
        onSubmit={() =>
          act.run(async () => {
            await admin(s, "POST", "groups", { name: name.trim(), members: list(members) });
            setName("");
            setMembers("");
            groups.reload();
          })
        }
      >
        <label>
          New group
          <input name="group" value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label>
          Members (comma-separated)
          <input name="members" value={members} onChange={(e) => setMembers(e.target.value)} />
        </label>
        <button type="submit" disabled={act.busy}>
          Create group
        </button>
      </Form>
      <ErrorBox error={act.error ?? groups.error} />
      {!groups.data && !groups.error && <Loading what="groups" />}
      {groups.data && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Members</th>
                <th>Policies</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {groups.data.groups.map((g) => (
                <tr key={g.name} data-group={g.name}>
                  <td>
                    <a href={href(["groups", g.name])}>{g.name}</a>
                  </td>
                  <td>{g.members.join(", ") || "–"}</td>
                  <td>{g.policies.join(", ") || "–"}</td>
                  <td>
                    <DeleteButton what={g.name} busy={act.busy} onDelete={() => act.run(async () => (await admin(s, "DELETE", `groups/${enc(g.name)}`), groups.reload()))} />
                  </td>
                </tr>
              ))}
              {groups.data.groups.length === 0 && (
                <tr>
                  <td colSpan={4} className="muted">
                    No groups.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function GroupPage({ s, name }: { s: Session; name: string }) {
  const group = useLoad(() => admin<Group>(s, "GET", `groups/${enc(name)}`), [s, name]);
  const [user, setUser] = useState("");
  const act = useAction();
  return (
    <section>
      <nav className="crumbs" aria-label="Breadcrumbs">
        <a href="#/groups">Groups</a> / {name}
      </nav>
      <h1>Group {name}</h1>
      <ErrorBox error={group.error ?? act.error} />
      {group.data && (
        <>
          <h2>Members</h2>
          <ul>
            {group.data.members.map((m) => (
              <li key={m}>
                <a href={href(["users", m])}>{m}</a>{" "}
                <button type="button" disabled={act.busy} onClick={() => act.run(async () => (await admin(s, "POST", `groups/${enc(name)}/members/remove`, { users: [m] }), group.reload()))}>
                  Remove
                </button>
              </li>
            ))}
            {group.data.members.length === 0 && <li className="muted">none</li>}
          </ul>
          <Form label="Add member" onSubmit={() => act.run(async () => (await admin(s, "POST", `groups/${enc(name)}/members`, { users: [user.trim()] }), setUser(""), group.reload()))}>
            <label>
              User
              <input name="member" value={user} onChange={(e) => setUser(e.target.value)} required />
            </label>
            <button type="submit" disabled={act.busy}>
              Add member
            </button>
          </Form>
          <PolicyAttachments s={s} kind="groups" name={name} attached={group.data.policies} onChange={group.reload} />
        </>
      )}
    </section>
  );
}

const POLICY_TEMPLATE = JSON.stringify(
  { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["s3:GetObject", "s3:ListBucket"], Resource: ["arn:aws:s3:::example", "arn:aws:s3:::example/*"] }] },
  null,
  2,
);

export function PoliciesPage({ s }: { s: Session }) {
  const policies = useLoad(() => admin<{ policies: Policy[] }>(s, "GET", "policies"), [s]);
  const [name, setName] = useState("");
  const [doc, setDoc] = useState(POLICY_TEMPLATE);
  const act = useAction();
  const problem = checkPolicy(doc);
  return (
    <section>
      <h1>Policies</h1>
      <ErrorBox error={policies.error} />
      {!policies.data && !policies.error && <Loading what="policies" />}
      {policies.data && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Description</th>
                <th className="num">Attached to</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {policies.data.policies.map((p) => (
                <tr key={p.name} data-policy={p.name}>
                  <td>
                    <a href={href(["policies", p.name])}>{p.name}</a>
                  </td>
                  <td>{p.description || "–"}</td>
                  <td className="num">{p.attachments}</td>
                  <td>{fmtTime(p.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>New policy</h2>
      <form
        aria-label="Create policy"
        onSubmit={(e) => {
          e.preventDefault();
          if (problem) return;
          act.run(async () => {
            await admin(s, "POST", "policies", { name: name.trim(), document: doc });
            setName("");
            policies.reload();
          });
        }}
      >
        <label>
          Name
          <input name="policyName" value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label className="block">
          Document (JSON)
          <textarea name="document" className="code" rows={12} spellCheck={false} value={doc} onChange={(e) => setDoc(e.target.value)} aria-invalid={problem ? true : undefined} />
        </label>
        {problem && (
          <p className="error" role="alert">
            {problem}
          </p>
        )}
        <button type="submit" disabled={act.busy || !!problem}>
          Create policy
        </button>
        <ErrorBox error={act.error} />
      </form>
    </section>
  );
}

export function ManagedPolicyPage({ s, name }: { s: Session; name: string }) {
  const p = useLoad(() => admin<Policy>(s, "GET", `policies/${enc(name)}`), [s, name]);
  const act = useAction();
  const [gone, setGone] = useState(false);
  return (
    <section>
      <nav className="crumbs" aria-label="Breadcrumbs">
        <a href="#/policies">Policies</a> / {name}
      </nav>
      <h1>Policy {name}</h1>
      <ErrorBox error={p.error ?? act.error} />
      {gone && <p role="status">Deleted.</p>}
      {p.data && !gone && (
        <>
          <p>{p.data.description}</p>
          <p>
            Attached to users: {p.data.attachedTo?.users.join(", ") || "none"}; groups: {p.data.attachedTo?.groups.join(", ") || "none"}
          </p>
          <pre className="code">{JSON.stringify(p.data.document, null, 2)}</pre>
          <DeleteButton what={name} busy={act.busy} onDelete={() => act.run(async () => (await admin(s, "DELETE", `policies/${enc(name)}`), setGone(true)))} />
        </>
      )}
    </section>
  );
}
