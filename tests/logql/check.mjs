// Parses every query of a JSON array file (argv[2]) with Grafana's LogQL grammar and prints, as a
// JSON array, the queries whose syntax tree holds an error node, with the error's position.
import { readFileSync } from "node:fs";
import { parser } from "@grafana/lezer-logql";

const queries = JSON.parse(readFileSync(process.argv[2], "utf8"));
const refused = [];
for (const query of queries) {
  let error = null;
  parser.parse(query).iterate({
    enter(node) {
      if (node.type.isError && error === null) {
        error = node.from;
      }
    },
  });
  if (error !== null) {
    refused.push({ query, at: error });
  }
}
process.stdout.write(JSON.stringify(refused));
