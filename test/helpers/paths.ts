import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * The public LIBSVM sets: ../shared/data beside the checkout (CI lays a copy of shared/ there),
 * or wherever RINGTRAIN_SHARED_DATA points (a clone elsewhere).
 */
export const SHARED_DATA = process.env.RINGTRAIN_SHARED_DATA ?? resolve(REPO_ROOT, '..', 'shared', 'data');
export const dataFile = (name: string): string => resolve(SHARED_DATA, name);
