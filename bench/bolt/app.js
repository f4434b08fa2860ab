// The baseline of bench/run-slack-bench: a Slack Bolt for JavaScript app in Socket Mode that
// only acknowledges. bench_slack starts it as a child process against the fake Slack and
// measures it from outside, exactly as it measures Tugboat.
//
// Environment (set by bench_slack):
//   SLACK_API_URL        the fake's Web API base, e.g. https://127.0.0.1:40123/api/
//   SLACK_BOT_TOKEN      xoxb-… (auth.test at start, as Tugboat does)
//   SLACK_APP_TOKEN      xapp-… (apps.connections.open)
//   NODE_EXTRA_CA_CERTS  the test CA, so TLS is verified as in production

'use strict';

const { App, LogLevel } = require('@slack/bolt');

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`bench/bolt/app.js: ${name} is not set (bench_slack sets it; see bench/README.md)`);
    process.exit(2);
  }
  return v;
};

const app = new App({
  token: need('SLACK_BOT_TOKEN'),
  appToken: need('SLACK_APP_TOKEN'),
  socketMode: true,
  // Both the Web API client and the Socket Mode client (apps.connections.open) use this.
  clientOptions: { slackApiUrl: need('SLACK_API_URL') },
  // Tugboat logs at info; Bolt's per-event logging is at debug, so info is the like-for-like.
  logLevel: LogLevel.INFO,
});

// Ack everything, do nothing else.
const ackOnly = async ({ ack }) => { await ack(); };
app.command(/.*/, ackOnly);
app.action(/.*/, ackOnly);
app.shortcut(/.*/, ackOnly);
app.view({ callback_id: /.*/, type: 'view_submission' }, ackOnly);
app.view({ callback_id: /.*/, type: 'view_closed' }, ackOnly);
app.event(/.*/, async () => {});  // events_api envelopes are acked by the receiver

(async () => {
  await app.start();
})().catch((e) => {
  console.error('bolt app failed to start:', e);
  process.exit(1);
});

process.on('SIGTERM', () => {
  app.stop().finally(() => process.exit(0));
});
