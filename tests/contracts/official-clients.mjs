// Drives the fake trackers with the vendors' client libraries: GitHub's own Octokit and
// jira.js (generated from Atlassian's OpenAPI description of Jira Cloud's REST API v3).
// If a fake strays from the real contract, these clients fail here.
//
//   node official-clients.mjs github URL TOKEN OWNER/REPO
//   node official-clients.mjs jira URL EMAIL API_TOKEN PROJECT
// Prints one JSON line of what it saw; exits non-zero on any error.
import { Octokit } from "@octokit/rest";
import { Version3Client } from "jira.js";

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

const run = which === "github" ? github : which === "jira" ? jira : null;
if (!run) {
  console.error("usage: official-clients.mjs github|jira URL ...");
  process.exit(2);
}
run(args).then(
  (r) => console.log(JSON.stringify(r)),
  (e) => {
    console.error(e?.stack ?? String(e));
    process.exit(1);
  },
);
