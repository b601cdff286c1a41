import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { readOnnxSignatureFile } from '../onnx/reader';
import type { OnnxSignature } from '../onnx/signature';
import { SluiceError, invalidArgument, notFound } from '../runtime/status';
import { completeConfig, signatureMismatches } from './config-complete';
import {
  EMPTY_PARTIAL_CONFIG, parseConfigText, type ConfigFormat, type ParsedConfig, type PartialModelConfig,
} from './config-parse';
import type { ModelConfig } from './model-config';
import { PBTXT_MAX_CHARS } from './pbtxt';
import { DEFAULT_VERSION_POLICY, selectVersions } from './version-policy';

/**
 * Reads a model repository in Triton's layout:
 *
 *   <root>/<model>/config.pbtxt or config.json      (optional)
 *   <root>/<model>/<version>/model.onnx              (or the config's default_model_filename)
 *
 * Every directory under root is a model (names starting with "." are skipped); files there are
 * ignored. Version directories are named by positive integers without leading zeros, as in
 * Triton; other directories are ignored with a note. When both config files exist, config.pbtxt
 * wins (it is the one Triton reads) and the model gets a note.
 *
 * Failures are contained: a broken config, or one the graph contradicts, makes its model
 * unavailable (`error`); a broken model file, or one that does not fit the config, makes only
 * its version unavailable (`versionErrors`). Each names the path and the reason.
 *
 * Models are read one at a time: the ONNX reader holds a whole file in memory, and model files
 * run to gigabytes.
 */

export interface ScanProblem {
  readonly path: string;
  readonly reason: string;
}

export interface VersionProblem extends ScanProblem {
  /** Decimal, as the directory is named. */
  readonly version: string;
}

export interface ScannedVersion {
  readonly version: string;
  readonly dir: string;
  readonly modelFile: string;
  /** Read once here; the graph already checked against the model's config. */
  readonly signature: OnnxSignature;
}

export interface ScannedModel {
  readonly name: string;
  readonly dir: string;
  /** The config file read, if any. */
  readonly configFile: string | undefined;
  /** The completed config; undefined exactly when `error` is set. */
  readonly config: ModelConfig | undefined;
  /** Versions to serve, ascending; empty when `error` is set. */
  readonly versions: readonly ScannedVersion[];
  /** Why the whole model is unavailable. */
  readonly error: ScanProblem | undefined;
  /** Selected versions that cannot serve (also listed when the model as a whole failed), ascending. */
  readonly versionErrors: readonly VersionProblem[];
  /** Things ignored on the way: stray directories, a shadowed config.json, unused Triton fields. */
  readonly notes: readonly string[];
}

export interface RepositoryScan {
  /** Absolute. */
  readonly root: string;
  /** By name. */
  readonly models: readonly ScannedModel[];
}

const VERSION_NAME = /^[1-9][0-9]*$/;
const VERSION_RULE = 'version directories are named by positive integers without leading zeros';
const CONFIG_FILES: readonly (readonly [string, ConfigFormat])[] = [['config.pbtxt', 'pbtxt'], ['config.json', 'json']];
const DEFAULT_MODEL_FILENAME = 'model.onnx';

/**
 * Scans every model under `root`. Throws SluiceError NOT_FOUND when root does not exist and
 * INVALID_ARGUMENT when it is not a directory; problems inside it never throw.
 */
export async function scanRepository(root: string): Promise<RepositoryScan> {
  const abs = resolve(root);
  let entries: Dirent[];
  try {
    if (!(await stat(abs)).isDirectory()) throw invalidArgument(`model repository ${abs} is not a directory`);
    entries = await readSortedDir(abs);
  } catch (e) {
    if (e instanceof SluiceError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`model repository ${abs} does not exist`);
    const reason = `model repository ${abs} cannot be read: ${(e as Error).message}`;
    throw new SluiceError('UNAVAILABLE', reason, { cause: e });
  }
  const models: ScannedModel[] = [];
  for (const e of entries) {
    if (!e.name.startsWith('.') && (await isDirectory(abs, e))) models.push(await scanModel(join(abs, e.name)));
  }
  return { root: abs, models };
}

/** Scans one model directory (its name is the directory's). Never throws. */
export async function scanModel(dir: string): Promise<ScannedModel> {
  const name = basename(dir);
  const notes: string[] = [];
  const versionErrors: VersionProblem[] = [];
  let configFile: string | undefined;
  const result = (rest: Pick<ScannedModel, 'config' | 'versions' | 'error'>): ScannedModel => ({
    name, dir, configFile, ...rest, notes,
    versionErrors: versionErrors.sort((a, b) => Number(a.version) - Number(b.version)),
  });
  const fail = (path: string, reason: string): ScannedModel =>
    result({ config: undefined, versions: [], error: { path, reason } });

  let entries: Dirent[];
  try {
    entries = await readSortedDir(dir);
  } catch (e) {
    return fail(dir, `cannot read the model directory: ${(e as Error).message}`);
  }

  let partial: PartialModelConfig = EMPTY_PARTIAL_CONFIG;
  const present = CONFIG_FILES.filter(([file]) => entries.some((e) => e.name === file));
  const chosen = present[0];
  if (chosen !== undefined) {
    configFile = join(dir, chosen[0]);
    if (present.length > 1) notes.push('config.json ignored: config.pbtxt takes precedence');
    try {
      const parsed = await readConfigFile(configFile, chosen[1]);
      partial = parsed.config;
      if (parsed.ignoredFields.length > 0) {
        notes.push(`${chosen[0]}: fields Sluice does not use were ignored: ${parsed.ignoredFields.join(', ')}`);
      }
    } catch (e) {
      return fail(configFile, (e as Error).message);
    }
  }

  const available: number[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.') || !(await isDirectory(dir, e))) continue;
    if (VERSION_NAME.test(e.name) && Number.isSafeInteger(Number(e.name))) available.push(Number(e.name));
    else notes.push(`directory "${e.name}" ignored: ${VERSION_RULE}`);
  }
  if (available.length === 0) {
    return fail(dir, `no version directories (expected <version>/${fileNameOf(partial)}; ${VERSION_RULE})`);
  }

  const { selected, missing } = selectVersions(partial.versionPolicy ?? DEFAULT_VERSION_POLICY, available);
  for (const v of missing) {
    const version = String(v);
    versionErrors.push({ version, path: join(dir, version), reason: 'listed in version_policy but not on disk' });
  }
  if (selected.length === 0) {
    return fail(configFile ?? dir, `version_policy selects none of the versions on disk (${available.join(', ')})`);
  }

  const fileName = fileNameOf(partial);
  const readable: ScannedVersion[] = [];
  for (const v of selected) {
    const version = String(v);
    const modelFile = join(dir, version, fileName);
    try {
      readable.push({ version, dir: join(dir, version), modelFile, signature: await readOnnxSignatureFile(modelFile) });
    } catch (e) {
      versionErrors.push({ version, path: modelFile, reason: (e as Error).message });
    }
  }
  const newest = readable[readable.length - 1];
  if (newest === undefined) {
    return fail(dir, `none of the selected versions (${selected.join(', ')}) has a readable ${fileName}`);
  }

  // The config comes from the newest graph it fits; if it fits none, the newest one's problems
  // are the ones to report. An older graph that fits still serves, as one bad version does not
  // take a model down in Triton.
  const fromNewest = tryComplete(name, partial, newest.signature);
  let config = fromNewest.config;
  for (let i = readable.length - 2; config === undefined && i >= 0; i--) {
    config = tryComplete(name, partial, (readable[i] as ScannedVersion).signature).config;
  }
  if (config === undefined) return fail(configFile ?? newest.modelFile, fromNewest.reason ?? '');

  const versions: ScannedVersion[] = [];
  for (const r of readable) {
    const mismatches = signatureMismatches(config, r.signature);
    if (mismatches.length === 0) {
      versions.push(r);
    } else {
      const reason = `does not fit the model config: ${mismatches.join('; ')}`;
      versionErrors.push({ version: r.version, path: r.modelFile, reason });
    }
  }
  return result({ config, versions, error: undefined });
}

const fileNameOf = (partial: PartialModelConfig): string => partial.defaultModelFilename ?? DEFAULT_MODEL_FILENAME;

function tryComplete(name: string, partial: PartialModelConfig, signature: OnnxSignature):
  { config: ModelConfig; reason?: never } | { config?: never; reason: string } {
  try {
    return { config: completeConfig(name, partial, signature) };
  } catch (e) {
    return { reason: (e as Error).message };
  }
}

async function readConfigFile(path: string, format: ConfigFormat): Promise<ParsedConfig> {
  // Checked before reading, so a stray multi-gigabyte file is refused without loading it.
  const { size } = await stat(path);
  if (size > PBTXT_MAX_CHARS) {
    throw invalidArgument(`the file is ${size} bytes; a model config may be ${PBTXT_MAX_CHARS}`);
  }
  return parseConfigText(await readFile(path, 'utf8'), format);
}

/** Sorted by name, so scans and their notes come out the same on every file system. */
async function readSortedDir(dir: string): Promise<Dirent[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Follows symlinks: repositories often link model directories in from elsewhere. */
async function isDirectory(parent: string, e: Dirent): Promise<boolean> {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  return stat(join(parent, e.name)).then((s) => s.isDirectory(), () => false);
}
