// Drives the fake trackers with the vendors' client libraries: GitHub's own Octokit,
// jira.js (generated from Atlassian's OpenAPI description of Jira Cloud's REST API v3) and
// Microsoft's azure-devops-node-api and jsforce (Salesforce's JavaScript client). If a fake strays from the real contract, these
// clients fail here.
//
//   node official-clients.mjs github URL TOKEN OWNER/REPO
//   node official-clients.mjs jira URL EMAIL API_TOKEN PROJECT
//   node official-clients.mjs ado ORG_URL PAT PROJECT
//   node official-clients.mjs salesforce INSTANCE_URL ACCESS_TOKEN
// Prints one JSON line of what it saw; exits non-zero on any error. The ado and salesforce runs first
// prints `ready` and waits for a line on stdin, so the test can make the next answer a
// 429 before the client's last call.
// Prints one JSON line of what it saw; exits non-zero on any error.
import { Octokit } from "@octokit/rest";
import { Version3Client } from "jira.js";
import * as azdev from "azure-devops-node-api";
import jsforce from "jsforce";
import { createInterface } from "node:readline";

const [which, url, ...args] = process.argv.slice(2);

async function github([token, full]) {
  const [owner, repo] = full.split("/");
  const o = new Octokit({ baseUrl: url, auth: token });
  const created = await o.rest.issues.create({ owner, repo, title: "From Octokit", body: "Made by **octokit**.", labels: ["sync"] });
  const issue_number = created.data.number;
  await o.rest.issues.createComment({ owner, repo, issue_number, body: "A comment from Octokit." });
  await o.rest.issues.update({ owner, repo, issue_number, state: "closed", state_reason: "completed" });
  for (let i = 0; i < 4; i++) {
    await o.rest.issues.create({ owner, repo, title: `Page filler ${i}` });
  }
  // Link-header pagination, followed by Octokit itself.
  const all = await o.paginate(o.rest.issues.listForRepo, { owner, repo, state: "all", per_page: 2 });
  const comments = await o.rest.issues.listComments({ owner, repo, issue_number });
  const got = await o.rest.issues.get({ owner, repo, issue_number });
  let notFound = 0;
  try {
    await o.rest.issues.get({ owner, repo, issue_number: 9999 });
  } catch (e) {
    notFound = e.status;
  }
  return { number: issue_number, state: got.data.state, listed: all.length, comments: comments.data.length, notFound };
}

async function jira([email, apiToken, project]) {
  const client = new Version3Client({ host: url, authentication: { basic: { email, apiToken } } });
  const doc = (text) => ({ type: "doc", version: 1, content: [{ type: "paragraph", content: [{ type: "text", text }] }] });
  const created = await client.issues.createIssue({
    fields: { project: { key: project }, issuetype: { name: "Task" }, summary: "From jira.js", description: doc("Made by jira.js."), labels: ["sync"] },
  });
  await client.issueComments.addComment({ issueIdOrKey: created.key, comment: doc("A comment from jira.js.") });
  const transitions = await client.issues.getTransitions({ issueIdOrKey: created.key });
  const done = transitions.transitions.find((t) => t.to.name === "Done");
  await client.issues.doTransition({ issueIdOrKey: created.key, transition: { id: done.id } });
  for (let i = 0; i < 4; i++) {
    await client.issues.createIssue({ fields: { project: { key: project }, issuetype: { name: "Task" }, summary: `Page filler ${i}` } });
  }
  let keys = [];
  let nextPageToken;
  do {
    const page = await client.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
      jql: `project = ${project} ORDER BY created ASC`, maxResults: 2, fields: ["summary", "status"], nextPageToken,
    });
    keys = keys.concat(page.issues.map((i) => i.key));
    nextPageToken = page.nextPageToken;
  } while (nextPageToken);
  const got = await client.issues.getIssue({ issueIdOrKey: created.key, fields: ["summary", "status", "comment"] });
  const comments = await client.issueComments.getComments({ issueIdOrKey: created.key });
  let notFound = 0;
  try {
    await client.issues.getIssue({ issueIdOrKey: `${project}-9999` });
  } catch (e) {
    notFound = e.status ?? e.response?.status ?? -1;
  }
  return { key: created.key, status: got.fields.status.name, listed: keys.length, comments: comments.total, notFound };
}

async function ado([token, project]) {
  const conn = new azdev.WebApi(url, azdev.getPersonalAccessTokenHandler(token));
  // The client finds every route through the location service first.
  const wit = await conn.getWorkItemTrackingApi();
  const field = (name, value) => ({ op: "add", path: `/fields/${name}`, value });
  const created = await wit.createWorkItem(null, [field("System.Title", "From azure-devops-node-api"), field("System.Tags", "sync")], project, "Task");
  // An update guarded by a test on the rev, as twinsync writes.
  await wit.updateWorkItem(null, [{ op: "test", path: "/rev", value: created.rev }, field("System.Title", "Renamed by the node client")], created.id);
  await wit.addComment({ text: "A comment from azure-devops-node-api." }, project, created.id);
  // A transition: Task's New -> Active.
  await wit.updateWorkItem(null, [field("System.State", "Active")], created.id);
  let stale = 0;
  try {
    await wit.updateWorkItem(null, [{ op: "test", path: "/rev", value: created.rev }, field("System.Title", "Lost")], created.id);
  } catch (e) {
    stale = e.statusCode;
  }
  for (let i = 0; i < 4; i++) {
    await wit.createWorkItem(null, [field("System.Title", `Page filler ${i}`)], project, "Task");
  }
  // WIQL, then the ids read in batches of two.
  const found = await wit.queryByWiql(
    { query: `SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project ORDER BY [System.Id] ASC` },
    { project },
  );
  const ids = found.workItems.map((w) => w.id);
  let listed = 0;
  for (let i = 0; i < ids.length; i += 2) {
    const batch = await wit.getWorkItemsBatch({ ids: ids.slice(i, i + 2), fields: ["System.Title", "System.State"] }, project);
    listed += batch.length;
  }
  const got = await wit.getWorkItem(created.id);
  const comments = await wit.getComments(project, created.id);
  // The client reads a 404 as "no such work item": null, not an error.
  const missing = await wit.getWorkItem(99999);
  console.log("ready");
  const rl = createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once("line", resolve));
  rl.close();
  let throttled = 0;
  try {
    await wit.getWorkItem(created.id);
  } catch (e) {
    throttled = e.statusCode;
  }
  return {
    id: created.id,
    title: got.fields["System.Title"],
    state: got.fields["System.State"],
    rev: got.rev,
    stale,
    listed,
    comments: comments.totalCount,
    notFound: missing === null ? 404 : 0,
    throttled,
  };
}

async function waitForGo() {
  console.log("ready");
  const rl = createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once("line", resolve));
  rl.close();
}

async function salesforce([accessToken]) {
  // Logged in with a session the test got from the fake's OAuth endpoint.
  const conn = new jsforce.Connection({ instanceUrl: url, accessToken, version: "62.0" });
  const cases = conn.sobject("Case");
  const created = await cases.create({ Subject: "From jsforce", Description: "Made by jsforce.", Priority: "High", Origin: "Web" });
  await cases.update({ Id: created.id, Subject: "Renamed by jsforce" });
  await conn.sobject("CaseComment").create({ ParentId: created.id, CommentBody: "A comment from jsforce.", IsPublished: true });
  await conn.sobject("CaseComment").create({ ParentId: created.id, CommentBody: "A private note.", IsPublished: false });
  // A status change: New -> Working.
  await cases.update({ Id: created.id, Status: "Working" });
  let refused = "";
  try {
    await cases.update({ Id: created.id, Status: "Not A Status" });
  } catch (e) {
    refused = e.errorCode ?? e.name;
  }
  for (let i = 0; i < 4; i++) {
    await cases.create({ Subject: `Page filler ${i}` });
  }
  // SOQL paged by the fake two records at a time: jsforce follows nextRecordsUrl itself,
  // and queryMore by hand.
  const all = await conn.query("SELECT Id, Subject, Status FROM Case ORDER BY CreatedDate ASC, Id ASC", { autoFetch: true, maxFetch: 100 });
  const first = await conn.query("SELECT Id FROM Case ORDER BY Id ASC");
  const more = await conn.queryMore(first.nextRecordsUrl);
  const got = await cases.retrieve(created.id);
  const comments = await conn.query(`SELECT Id, CommentBody, IsPublished FROM CaseComment WHERE ParentId = '${created.id}'`);
  let notFound = "";
  try {
    await cases.retrieve("500FK9999999999AAA");
  } catch (e) {
    notFound = e.errorCode ?? e.name;
  }
  await waitForGo();
  let throttled = "";
  try {
    await cases.retrieve(created.id);
  } catch (e) {
    throttled = e.errorCode ?? e.name;
  }
  return {
    subject: got.Subject,
    status: got.Status,
    priority: got.Priority,
    refused,
    listed: all.records.length,
    totalSize: all.totalSize,
    firstPage: first.records.length,
    firstDone: first.done,
    secondPage: more.records.length,
    comments: comments.records.length,
    published: comments.records.filter((c) => c.IsPublished).length,
    notFound,
    throttled,
  };
}

const clients = { github, jira, ado, salesforce };
const run = clients[which] ?? null;
if (!run) {
  console.error("usage: official-clients.mjs github|jira|ado|salesforce URL ...");
  process.exit(2);
}
run(args).then(
  (r) => console.log(JSON.stringify(r)),
  (e) => {
    console.error(e?.stack ?? String(e));
    process.exit(1);
  },
);
