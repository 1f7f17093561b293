# The npm registry reachable here lacks some platform-only optional packages (e.g. biome for macOS),
# so npm leaves them out of the lockfile and `npm ci` then refuses it as out of sync. This adds the
# entries npm would write (version, os, cpu, optional): npm ci skips them on other platforms.
# Run after `npm install` changes the lockfile: python3 scripts/lockfile-platforms.py package-lock.json
import json, re, sys
p = sys.argv[1]
lock = json.load(open(p))
pk = lock['packages']
added = []
for path, meta in list(pk.items()):
    for name, version in (meta.get('optionalDependencies') or {}).items():
        key = f'node_modules/{name}'
        if key in pk:
            continue
        m = re.search(r'(android|darwin|linux|win32|freebsd)-(arm64|x64|arm|ia32)(-musl)?', name)
        if not m:
            continue
        entry = {'version': version.lstrip('^~'), 'cpu': [m.group(2)], 'optional': True, 'os': [m.group(1)]}
        if meta.get('dev'):
            entry['dev'] = True
        if m.group(3):
            entry['libc'] = ['musl']
        pk[key] = entry
        added.append(key)
lock['packages'] = dict(sorted(pk.items(), key=lambda kv: (kv[0] != '', kv[0])))
json.dump(lock, open(p, 'w'), indent=2)
open(p, 'a').write('\n')
print('\n'.join(added))
