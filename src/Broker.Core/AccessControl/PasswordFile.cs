using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Broker.Core.AccessControl;

/// <summary>
/// The broker's own user list, <c>etc/passwd</c>: one <c>username:hash</c> line per user, <c>#</c> comments and
/// blank lines kept as they are when the file is rewritten.
/// </summary>
/// <remarks>
/// <para>
/// A hash reads <c>$pbkdf2-sha512$&lt;iterations&gt;$&lt;base64 salt&gt;$&lt;base64 hash&gt;</c>: PBKDF2 with
/// HMAC-SHA-512, a 16-byte random salt and the iterations the operator chose (<c>password_hash_iterations</c>,
/// default <see cref="DefaultIterations"/>). Each line carries its own iteration count, so changing the setting does
/// not break existing entries; they are re-hashed when their password is next set.
/// </para>
/// <para>
/// Verification compares in constant time. A user that is not in the file is answered in the time a hash with the
/// file's highest iteration count takes (<see cref="PasswordHasher.SimulateAsync"/>), so response time does not tell an
/// attacker which names exist, without spending that hash.
/// </para>
/// <para>
/// When a fleet of devices reconnects at once the hashes would pin the cores, so a successful verification is
/// remembered: per user, the SHA-256 of the password that worked, for <see cref="CacheLifetime"/>, at most
/// <see cref="CacheCapacity"/> users. A repeat of the same password then costs one SHA-256. A failed one is remembered
/// the same way (user name and SHA-256 of the password), so a device retrying a wrong password, or an attacker
/// repeating a guess, costs one hash per lifetime; a new guess always costs a full hash. An entry dies with the hash it
/// was checked against: setting or removing the user, or loading the file again, invalidates it. The caches live in
/// memory only.
/// </para>
/// <para>Thread-safe: <see cref="VerifyAsync"/> runs for many connections at once while the operator may change the file.</para>
/// </remarks>
public sealed class PasswordFile
{
    /// <summary>
    /// PBKDF2 iterations for newly set passwords (<c>password_hash_iterations</c>): the most that still lets a fleet's
    /// first logins after a restart reach 2,000/s with one hashing thread on the two-core reference machine (1,000:
    /// 2,300/s; 2,000: 1,300/s; bench/README.md, case connauth). mosquitto_passwd's default is 101.
    /// </summary>
    public const int DefaultIterations = 1_000;

    /// <summary>How long a successful verification is remembered.</summary>
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(5);

    /// <summary>How many users' successful verifications are remembered at most.</summary>
    public const int CacheCapacity = 10_000;

    private readonly Lock _lock = new();
    private readonly List<FileLine> _lines = [];
    private readonly Dictionary<string, PasswordFileHash> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CacheEntry> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FailureEntry> _failures = new(StringComparer.Ordinal);
    private readonly int _iterations;
    private readonly TimeProvider _time;
    private int _unknownUserIterations;
    private long _hashComputations;

    /// <summary>An empty user list.</summary>
    /// <param name="iterations">PBKDF2 iterations for passwords set through <see cref="Set"/> (tests pass a small number).</param>
    /// <param name="timeProvider">Clock of the verification cache.</param>
    public PasswordFile(int iterations = DefaultIterations, TimeProvider? timeProvider = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        _iterations = iterations;
        _time = timeProvider ?? TimeProvider.System;
        _unknownUserIterations = iterations;
    }

    /// <summary>The users in file order.</summary>
    public IReadOnlyList<string> Users
    {
        get
        {
            lock (_lock)
            {
                var users = new List<string>(_users.Count);
                foreach (var line in _lines)
                {
                    if (line.User is not null)
                        users.Add(line.User);
                }
                return users;
            }
        }
    }

    /// <summary>How many users the file holds.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _users.Count;
        }
    }

    /// <summary>
    /// How many PBKDF2 computations <see cref="Verify"/> has run (cache misses and unknown users): the CPU the
    /// password checks cost, for metrics.
    /// </summary>
    public long HashComputations => Interlocked.Read(ref _hashComputations);

    /// <summary>Reads <paramref name="path"/>; a missing file is an empty user list.</summary>
    /// <exception cref="AccessFileException">A line is neither a comment nor a valid <c>username:hash</c>.</exception>
    public static PasswordFile Load(string path, int iterations = DefaultIterations, TimeProvider? timeProvider = null)
    {
        var file = new PasswordFile(iterations, timeProvider);
        if (!File.Exists(path))
            return file;
        var text = File.ReadAllText(path);
        var lines = text.Split('\n');
        // A final newline leaves one empty element that is not a line of the file.
        var count = lines.Length > 0 && lines[^1].Length == 0 ? lines.Length - 1 : lines.Length;
        var firstLine = new Dictionary<string, int>(StringComparer.Ordinal);
        var maxIterations = 0;
        for (var i = 0; i < count; i++)
        {
            var raw = lines[i].TrimEnd('\r');
            var trimmed = raw.Trim();
            if (trimmed.Length == 0 || trimmed[0] == '#')
            {
                file._lines.Add(new FileLine(null, raw));
                continue;
            }
            var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
                throw new AccessFileException(path, i + 1, "expected username:hash");
            var user = trimmed[..colon];
            if (ValidateUserName(user) is { } problem)
                throw new AccessFileException(path, i + 1, problem);
            if (!PasswordFileHash.TryParse(trimmed[(colon + 1)..], out var hash, out problem))
                throw new AccessFileException(path, i + 1, $"bad hash for user '{user}': {problem}");
            if (firstLine.TryGetValue(user, out var first))
                throw new AccessFileException(path, i + 1, $"user '{user}' is already defined on line {first}");
            firstLine.Add(user, i + 1);
            file._users.Add(user, hash);
            file._lines.Add(new FileLine(user, trimmed));
            maxIterations = Math.Max(maxIterations, hash.Iterations);
        }
        if (maxIterations > 0)
            file._unknownUserIterations = maxIterations;
        return file;
    }

    /// <summary>Whether <paramref name="user"/> is in the file.</summary>
    public bool Contains(string user)
    {
        lock (_lock)
            return _users.ContainsKey(user);
    }

    /// <summary>
    /// Whether <paramref name="password"/> is <paramref name="user"/>'s password. A user not in the file is answered
    /// false in the time a hash would take, without computing one; a password that failed for that user (or that
    /// unknown name) within <see cref="CacheLifetime"/> is answered false at once, known user or not, so a device
    /// retrying a wrong password costs one hash per lifetime. Every other answer costs one PBKDF2 on
    /// <paramref name="hasher"/>'s threads, in its turn.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired before the hash's turn.</exception>
    internal async ValueTask<bool> VerifyAsync(string user, ReadOnlyMemory<byte> password, PasswordHasher hasher, CancellationToken cancellationToken)
    {
        PasswordFileHash? stored;
        int unknownCost;
        lock (_lock)
        {
            _users.TryGetValue(user, out stored);
            unknownCost = _unknownUserIterations;
        }

        var digest = new byte[SHA256.HashSizeInBytes];
        SHA256.HashData(password.Span, digest);
        var now = _time.GetUtcNow();
        if (stored is not null
            && _cache.TryGetValue(user, out var cached)
            && ReferenceEquals(cached.Hash, stored)
            && cached.ExpiresAt > now
            && CryptographicOperations.FixedTimeEquals(cached.PasswordDigest, digest))
        {
            return true;
        }
        var failureKey = FailureKey(user, digest);
        if (_failures.TryGetValue(failureKey, out var failed) && ReferenceEquals(failed.Hash, stored) && failed.ExpiresAt > now)
            return false;

        bool ok;
        if (stored is null)
        {
            await hasher.SimulateAsync(unknownCost, cancellationToken).ConfigureAwait(false);
            ok = false;
        }
        else
        {
            var computed = await hasher.HashAsync(password, stored.Salt, stored.Iterations, stored.Hash.Length, cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _hashComputations);
            ok = CryptographicOperations.FixedTimeEquals(computed, stored.Hash);
        }
        if (ok)
            Remember(user, stored!, digest, now);
        else
            RememberFailure(failureKey, stored, now);
        return ok;
    }

    /// <summary>Adds <paramref name="user"/> or replaces their password, hashing it with a fresh salt.</summary>
    /// <exception cref="ArgumentException">The user name cannot be written to the file.</exception>
    public void Set(string user, string password)
    {
        if (ValidateUserName(user) is { } problem)
            throw new ArgumentException(problem, nameof(user));
        ArgumentNullException.ThrowIfNull(password);
        var hash = PasswordFileHash.Create(password, _iterations);
        var line = new FileLine(user, $"{user}:{hash.Encoded}");
        lock (_lock)
        {
            var index = _lines.FindIndex(l => l.User == user);
            if (index >= 0)
                _lines[index] = line;
            else
                _lines.Add(line);
            _users[user] = hash;
            _unknownUserIterations = Math.Max(_unknownUserIterations, hash.Iterations);
            _cache.TryRemove(user, out _);
        }
    }

    /// <summary>Removes <paramref name="user"/>; false if they were not in the file.</summary>
    public bool Remove(string user)
    {
        lock (_lock)
        {
            if (!_users.Remove(user))
                return false;
            _lines.RemoveAll(l => l.User == user);
            _cache.TryRemove(user, out _);
            return true;
        }
    }

    /// <summary>
    /// Writes the file to <paramref name="path"/> atomically: a temporary file in the same directory (mode 0600 on
    /// Unix: it holds password hashes) is written, flushed to disk and renamed over the old one, so a crash or a
    /// concurrent reader never sees half a file.
    /// </summary>
    public void Save(string path)
    {
        var text = new StringBuilder();
        lock (_lock)
        {
            foreach (var line in _lines)
                text.Append(line.Text).Append('\n');
        }
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(Encoding.UTF8.GetBytes(text.ToString()));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Why <paramref name="user"/> cannot be a user name in the file, or null if it can.</summary>
    public static string? ValidateUserName(string user)
    {
        if (user.Length == 0)
            return "the user name is empty";
        if (user.Contains(':', StringComparison.Ordinal))
            return $"the user name '{user}' contains ':'";
        if (char.IsWhiteSpace(user[0]) || char.IsWhiteSpace(user[^1]))
            return $"the user name '{user}' starts or ends with white space";
        if (user[0] == '#')
            return $"the user name '{user}' starts with '#' (a comment)";
        foreach (var c in user)
        {
            if (char.IsControl(c))
                return "the user name contains a control character";
        }
        return null;
    }

    /// <summary>
    /// Before adding to a full cache: drops its expired entries and, if it is still full of live ones, starts over
    /// rather than track recency (the cost is one extra hash per user).
    /// </summary>
    private static void MakeRoom<T>(ConcurrentDictionary<string, T> cache, Func<T, DateTimeOffset> expiresAt, DateTimeOffset now)
    {
        if (cache.Count < CacheCapacity)
            return;
        foreach (var entry in cache)
        {
            if (expiresAt(entry.Value) <= now)
                cache.TryRemove(entry.Key, out _);
        }
        if (cache.Count >= CacheCapacity)
            cache.Clear();
    }

    private void Remember(string user, PasswordFileHash hash, ReadOnlySpan<byte> digest, DateTimeOffset now)
    {
        MakeRoom(_cache, static e => e.ExpiresAt, now);
        lock (_lock)
        {
            // Set or Remove may have run while the hash was computed: cache only what is still current.
            if (_users.TryGetValue(user, out var current) && ReferenceEquals(current, hash))
                _cache[user] = new CacheEntry(hash, digest.ToArray(), now + CacheLifetime);
        }
    }

    private static string FailureKey(string user, byte[] digest) => string.Concat(user, "\n", Convert.ToBase64String(digest));

    private void RememberFailure(string key, PasswordFileHash? hash, DateTimeOffset now)
    {
        MakeRoom(_failures, static e => e.ExpiresAt, now);
        _failures[key] = new FailureEntry(hash, now + CacheLifetime);
    }

    private sealed record FileLine(string? User, string Text);

    private sealed record CacheEntry(PasswordFileHash Hash, byte[] PasswordDigest, DateTimeOffset ExpiresAt);

    /// <summary>A password that failed for a user (or an unknown name: <paramref name="Hash"/> null), while the user's hash is still <paramref name="Hash"/>.</summary>
    private sealed record FailureEntry(PasswordFileHash? Hash, DateTimeOffset ExpiresAt);
}
