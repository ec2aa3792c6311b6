// Sends log records to a Loki push endpoint with winston + winston-loki (npm), exactly as an
// application would, then prints what it sent as JSON on stdout for tests/tests/loki_push.rs to
// look up through GET /logs.
//
//   node send_winston.js <base url> <service> <protobuf|json> [api key]
//
// protobuf mode needs the `snappy` package: winston-loki would otherwise fall back to JSON
// without a word, so this script refuses to run without it.
'use strict'

const winston = require('winston')
const LokiTransport = require('winston-loki')

const [baseUrl, service, mode, key] = process.argv.slice(2)
if (!baseUrl || !service || !['protobuf', 'json'].includes(mode)) {
  console.error('usage: node send_winston.js <base url> <service> <protobuf|json> [api key]')
  process.exit(2)
}
if (mode === 'protobuf') {
  require('snappy') // fails loudly when missing
}

const errors = []
const transport = new LokiTransport({
  host: baseUrl,
  json: mode === 'json',
  labels: { service_name: service, env: 'e2e', client: 'winston-loki' },
  // Keep the record's own timestamp instead of the send time.
  replaceTimestamp: false,
  // The line is the message alone (by default winston-loki appends the metadata as JSON).
  format: winston.format.printf((info) => info.message),
  basicAuth: key ? `winston:${key}` : undefined,
  gracefulShutdown: false,
  // Seconds between the batching loop's pushes: flush() below waits for the next one.
  interval: 1,
  timeout: 10000,
  onConnectionError: (error) => errors.push(String(error && error.message ? error.message : error))
})
const expectedType = mode === 'json' ? 'application/json' : 'application/x-protobuf'
if (transport.batcher.contentType !== expectedType) {
  console.error(`winston-loki would send ${transport.batcher.contentType}, not ${expectedType}`)
  process.exit(1)
}

const logger = winston.createLogger({ level: 'debug', transports: [transport] })

// Whole milliseconds in the past: winston-loki sends millisecond precision.
const baseMs = Date.now() - 60000
const levels = ['debug', 'info', 'warn', 'error', 'verbose']
const sent = levels.map((level, index) => {
  const timestampMs = baseMs + index * 1001
  const record = {
    level,
    message: `winston ${mode} ${level} record ${index} ünïcode`,
    user_id: `user-${index}`,
    timestamp_ms: timestampMs
  }
  logger.log(level, record.message, {
    user_id: record.user_id,
    timestamp: new Date(timestampMs).toISOString()
  })
  return record
})

async function main () {
  // Give winston a tick to hand the records to the transport, then wait for the batching loop
  // to push them all; a refused push is retried later, so give up after 15 s with its error.
  await new Promise((resolve) => setTimeout(resolve, 50))
  let timer
  const flushed = await Promise.race([
    transport.flush().then(() => true),
    new Promise((resolve) => { timer = setTimeout(() => resolve(false), 15000) })
  ])
  clearTimeout(timer)
  if (!flushed) {
    errors.push('the records were not pushed within 15 s')
  }
  await transport.close()
  if (errors.length > 0) {
    console.error(`winston-loki reported: ${errors.join('; ')}`)
    process.exit(1)
  }
  process.stdout.write(JSON.stringify({ content_type: expectedType, records: sent }) + '\n')
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
