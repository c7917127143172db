// Runs @cloud-copilot/iam-simulate on a batch of requests: one process for the whole batch.
//
//   node simulate.mjs < simulations.json            -> one JSON decision per line, in input order
//   node simulate.mjs --bench SECONDS < sims.json   -> {"authorize": {...}, "runSimulation": {...}}
//
// Input: a JSON array of iam-simulate `Simulation` objects (see its README), as built by
// tests/differential/iam_simulate.py.
//
// Each request is run two ways:
//   - `runSimulation`, the package's public, validating entry point. It keeps only the context
//     keys its action table lists for the action, and that table spells the encryption-context key
//     `kms:EncryptionContext:${Key}` while it matches variable keys on a "/" prefix only, so every
//     `kms:EncryptionContext:<k>` key is dropped (reported back as `ignoredKeys`).
//   - `authorize`, the engine `runSimulation` calls after validation, given the whole request
//     context (and the session policy, which `runUnsafeSimulation` would drop). This is the
//     decision the differential test compares.
// The package exports only its entry point, so the engine is imported by file path (a relative
// specifier is not subject to the package's "exports" map).

import { loadPolicy } from '@cloud-copilot/iam-policy'
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { DiscoveryContextKeyConstraints } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/context_keys/discoveryContextKeyConstraints.js'
import { authorize } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/core_engine/CoreSimulatorEngine.js'
import { AwsRequestImpl } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/request/request.js'
import { RequestContextImpl } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/requestContext.js'

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

function loadNamed(entries) {
  return (entries ?? []).map((entry) => loadPolicy(entry.policy, { name: entry.name }))
}

// Policies parsed once, as runSimulation does before it calls authorize.
function prepare(simulation) {
  const orgLevels = (levels) =>
    (levels ?? []).map((level) => ({ orgIdentifier: level.orgIdentifier, policies: loadNamed(level.policies) }))
  return {
    simulation,
    sessionPolicy: simulation.sessionPolicy ? loadPolicy(simulation.sessionPolicy, { name: 'SessionPolicy' }) : undefined,
    identityPolicies: loadNamed(simulation.identityPolicies),
    serviceControlPolicies: orgLevels(simulation.serviceControlPolicies),
    resourceControlPolicies: orgLevels(simulation.resourceControlPolicies),
    resourcePolicy: simulation.resourcePolicy ? loadPolicy(simulation.resourcePolicy, { name: 'KeyPolicy' }) : undefined,
    permissionBoundaries: simulation.permissionBoundaryPolicies
      ? loadNamed(simulation.permissionBoundaryPolicies)
      : undefined
  }
}

const STRICT = { simulationMode: 'Strict', discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) }

function authorizePrepared(prepared) {
  const request = prepared.simulation.request
  return authorize({
    request: new AwsRequestImpl(
      request.principal,
      { resource: request.resource.resource, accountId: request.resource.accountId },
      request.action,
      new RequestContextImpl(request.contextVariables),
      false
    ),
    sessionPolicy: prepared.sessionPolicy,
    identityPolicies: prepared.identityPolicies,
    serviceControlPolicies: prepared.serviceControlPolicies,
    resourceControlPolicies: prepared.resourceControlPolicies,
    resourcePolicy: prepared.resourcePolicy,
    permissionBoundaries: prepared.permissionBoundaries,
    vpcEndpointPolicies: undefined,
    simulationParameters: STRICT,
    serviceSettings: { s3: {} }
  })
}

// The statements that decided, for a person reading a disagreement.
function decisiveStatements(analysis) {
  const pick = (part, name) =>
    [...(part?.denyStatements ?? []), ...(part?.allowStatements ?? [])].map(
      (s) => `${name}:${s.statement.effect()}:${s.statement.sid() || s.statement.index()}:${s.principalMatch}`
    )
  return [
    ...pick(analysis.resourceAnalysis, 'key policy'),
    ...pick(analysis.identityAnalysis, 'identity'),
    ...pick(analysis.sessionAnalysis, 'session'),
    ...pick(analysis.permissionBoundaryAnalysis, 'boundary')
  ]
}

async function decide(simulation) {
  let result
  let statements = []
  let engineError = null
  try {
    const analysis = authorizePrepared(prepare(simulation))
    result = analysis.result
    statements = decisiveStatements(analysis)
  } catch (error) {
    result = 'Error'
    engineError = String(error?.message ?? error)
  }
  let apiResult
  let apiError = null
  let ignoredKeys = []
  try {
    const response = await runSimulation(simulation, {})
    if (response.resultType === 'error') {
      apiResult = 'Error'
      apiError = JSON.stringify(response.errors)
    } else {
      apiResult = response.overallResult
      ignoredKeys = response.result?.ignoredContextKeys ?? []
    }
  } catch (error) {
    apiResult = 'Error'
    apiError = String(error?.message ?? error)
  }
  return { result, engineError, statements, apiResult, apiError, ignoredKeys }
}

// Decisions per second over the whole batch, repeated until `seconds` have passed.
async function rate(seconds, runOne) {
  const deadline = performance.now() + seconds * 1000
  let done = 0
  const started = performance.now()
  while (performance.now() < deadline) {
    for (const item of runOne.items) {
      await runOne.fn(item)
    }
    done += runOne.items.length
  }
  const elapsed = (performance.now() - started) / 1000
  return { decisions: done, seconds: elapsed, perSecond: done / elapsed }
}

async function bench(simulations, seconds) {
  const prepared = simulations.map(prepare)
  // Warm-up, as long as a measurement (at most 1 s): the JIT compiles the hot paths and iam-data
  // fills its caches; a single pass measured a third of the steady rate.
  const warmup = Math.min(seconds, 1)
  await rate(warmup, { items: prepared, fn: async (item) => authorizePrepared(item) })
  await rate(warmup, { items: simulations, fn: (simulation) => runSimulation(simulation, {}) })
  const engine = await rate(seconds, { items: prepared, fn: async (item) => authorizePrepared(item) })
  const api = await rate(seconds, { items: simulations, fn: (simulation) => runSimulation(simulation, {}) })
  return { authorize: engine, runSimulation: api }
}

async function main() {
  const simulations = JSON.parse(await readStdin())
  if (!Array.isArray(simulations)) throw new Error('expected a JSON array of simulations on stdin')
  const benchIndex = process.argv.indexOf('--bench')
  if (benchIndex >= 0) {
    const seconds = Number(process.argv[benchIndex + 1] ?? '2')
    process.stdout.write(JSON.stringify(await bench(simulations, seconds)) + '\n')
    return
  }
  const lines = []
  for (const simulation of simulations) lines.push(JSON.stringify(await decide(simulation)))
  process.stdout.write(lines.join('\n') + '\n')
}

main().catch((error) => {
  process.stderr.write(`simulate.mjs: ${error?.stack ?? error}\n`)
  process.exit(2)
})
