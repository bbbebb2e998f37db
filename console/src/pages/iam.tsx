// Users, groups, access keys and managed policies, over the admin API.
import { useState } from "react";
import { type Session, admin } from "../api";
import { href } from "../app";
import { ErrorBox, FieldForm, Loading, Table, fmtTime, useAction, useLoad } from "../ui";
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
  const act = useAction();
  return (
    <section>
      <h1>Users</h1>
      <FieldForm
        label="Create user"
        submit="Create user"
        fields={[
          { name: "user", label: "New user", required: true },
          { name: "policies", label: "Policies (comma-separated)" },
        ]}
        onSubmit={async (v) => {
          await admin(s, "POST", "users", { name: v.user.trim(), policies: list(v.policies) });
          users.reload();
        }}
      />
      <ErrorBox error={act.error ?? users.error} />
      {!users.data && !users.error && <Loading what="users" />}
      {users.data && (
        <Table head={["Name", "Status", "Groups", "Policies", "Created", "Actions"]}>
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
        </Table>
      )}
    </section>
  );
}

/** Attach and detach managed policies to a user or group. */
function PolicyAttachments({ s, kind, name, attached, onChange }: { s: Session; kind: "users" | "groups"; name: string; attached: string[]; onChange: () => void }) {
  const all = useLoad(() => admin<{ policies: Policy[] }>(s, "GET", "policies"), [s]);
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
      <FieldForm
        label="Attach policy"
        submit="Attach"
        fields={[{ name: "attach", label: "Policy", required: true, options: [["", "choose…"], ...free.map((p): [string, string] => [p, p])] }]}
        onSubmit={async (v) => {
          await admin(s, "POST", `policies/${enc(v.attach)}/attach`, { [kind]: [name] });
          onChange();
        }}
      />
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
      <Table head={["Access key", ...(showUser ? ["User"] : []), "Type", "Status", "Description", "Last used", "Actions"]}>
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
                onClick={() => act.run(async () => (await admin(s, "PUT", `accesskeys/${enc(k.accessKey)}`, { status: k.status === "Active" ? "Inactive" : "Active" }), onChange()))}
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
      </Table>
    </>
  );
}

function CreateKey({ s, user, onCreated }: { s: Session; user?: string; onCreated: () => void }) {
  const [made, setMade] = useState<AccessKey | null>(null);
  return (
    <>
      <FieldForm
        label="Create access key"
        submit="Create key"
        fields={[
          ...(user === undefined ? [{ name: "keyUser", label: "User", required: true, keep: true }] : []),
          { name: "keyType", label: "Type", initial: "accessKey", keep: true, options: [["accessKey", "access key"], ["serviceAccount", "service account"]] },
          { name: "description", label: "Description" },
        ]}
        onSubmit={async (v) => {
          const body: Record<string, string> = { user: (user ?? v.keyUser).trim(), type: v.keyType };
          if (v.description) body.description = v.description;
          setMade(await admin<AccessKey>(s, "POST", "accesskeys", body));
          onCreated();
        }}
      />
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
  const act = useAction();
  return (
    <section>
      <h1>Groups</h1>
      <FieldForm
        label="Create group"
        submit="Create group"
        fields={[
          { name: "group", label: "New group", required: true },
          { name: "members", label: "Members (comma-separated)" },
        ]}
        onSubmit={async (v) => {
          await admin(s, "POST", "groups", { name: v.group.trim(), members: list(v.members) });
          groups.reload();
        }}
      />
      <ErrorBox error={act.error ?? groups.error} />
      {!groups.data && !groups.error && <Loading what="groups" />}
      {groups.data && (
        <Table head={["Name", "Members", "Policies", "Actions"]}>
          {groups.data.groups.map((g) => (
            <tr key={g.name} data-group={g.name}>
              <td>
                <a href={href(["groups", g.name])}>{g.name}</a>
              </td>
              <td>{g.members.join(", ") || "–"}</td>
              <td>{g.policies.join(", ") || "–"}</td>
              <td className="actions">
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
        </Table>
      )}
    </section>
  );
}

export function GroupPage({ s, name }: { s: Session; name: string }) {
  const group = useLoad(() => admin<Group>(s, "GET", `groups/${enc(name)}`), [s, name]);
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
          <FieldForm
            label="Add member"
            submit="Add member"
            fields={[{ name: "member", label: "User", required: true }]}
            onSubmit={async (v) => {
              await admin(s, "POST", `groups/${enc(name)}/members`, { users: [v.member.trim()] });
              group.reload();
            }}
          />
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
  return (
    <section>
      <h1>Policies</h1>
      <ErrorBox error={policies.error} />
      {!policies.data && !policies.error && <Loading what="policies" />}
      {policies.data && (
        <Table head={["Name", "Description", ["Attached to", "num"], "Updated"]}>
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
        </Table>
      )}
      <h2>New policy</h2>
      <FieldForm
        label="Create policy"
        submit="Create policy"
        fields={[
          { name: "policyName", label: "Name", required: true },
          { name: "document", label: "Document (JSON)", code: true, initial: POLICY_TEMPLATE, keep: true, check: checkPolicy },
        ]}
        onSubmit={async (v) => {
          await admin(s, "POST", "policies", { name: v.policyName.trim(), document: v.document });
          policies.reload();
        }}
      />
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
