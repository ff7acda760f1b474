// Drives the fake Zendesk with node-zendesk, the vendor's client library for Node.js:
// create, read, update, comment (public reply and internal note), change status, page
// through the incremental cursor export and the ticket list, and read a 404 and a 429
// as the library reads them. If the fake strays from the real contract, this fails.
//
//   node zendesk-client.mjs URL EMAIL API_TOKEN
// The fake must allow 3 incremental exports a minute: the 4th is the 429.
// Prints one JSON line of what it saw; exits non-zero on any error.
import zendesk from "node-zendesk";

const [url, email, token] = process.argv.slice(2);
// endpointUri points the library at the fake instead of {subdomain}.zendesk.com;
// throwOriginalException keeps the status code on errors.
const client = zendesk.createClient({ username: email, token, endpointUri: `${url}/api/v2`, throwOriginalException: true });

async function main() {
  const created = await client.tickets.create({
    ticket: { subject: "From node-zendesk", comment: { body: "Made by node-zendesk." }, tags: ["sync"], priority: "high" },
  });
  const id = created.result.id;
  await client.tickets.update(id, { ticket: { subject: "From node-zendesk (edited)" } });
  await client.tickets.update(id, { ticket: { comment: { body: "A public reply.", public: true } } });
  await client.tickets.update(id, { ticket: { comment: { html_body: "<p>An <b>internal</b> note</p>", public: false } } });
  await client.tickets.update(id, { ticket: { status: "solved" } });
  for (let i = 0; i < 4; i++) {
    await client.tickets.create({ ticket: { subject: `Filler ${i}`, comment: { body: "filler" } } });
  }
  const shown = (await client.tickets.show(id)).result;
  const comments = await client.tickets.getComments(id);
  // The cursor export: start_time first, then the cursor until end_of_stream.
  let exported = 0;
  let exportPages = 0;
  let params = { start_time: 0, per_page: 2 };
  for (;;) {
    const { result } = await client.tickets._rawRequest("GET", ["incremental", "tickets", "cursor", params]);
    exportPages += 1;
    exported += result.tickets.length;
    if (result.end_of_stream) break;
    params = { cursor: result.after_cursor, per_page: 2 };
  }
  const listed = await client.tickets.list();
  let notFound = 0;
  try {
    await client.tickets.show(999999);
  } catch (e) {
    notFound = e.statusCode ?? -1;
  }
  // A 4th export within the minute: node-zendesk hands back a 429 (it has Retry-After).
  let rateLimited = 0;
  try {
    const { result } = await client.tickets.request("GET", ["incremental", "tickets", "cursor", { start_time: 0 }]);
    rateLimited = result?.statusCode ?? 0;
  } catch (e) {
    rateLimited = e.statusCode ?? -1;
  }
  return {
    id: shown.id,
    subject: shown.subject,
    status: shown.status,
    comments: comments.length,
    publicComments: comments.filter((c) => c.public).length,
    exported,
    exportPages,
    listed: listed.length,
    notFound,
    rateLimited,
  };
}

main().then(
  (r) => console.log(JSON.stringify(r)),
  (e) => {
    console.error(e?.stack ?? String(e));
    process.exit(1);
  },
);
