using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Broker.Server.Management;

/// <summary>One application as stored: the secret only as its SHA-256.</summary>
internal sealed class StoredApp
{
    public required string AppId { get; init; }
    public required string Name { get; set; }
    public string Desc { get; set; } = "";
    public required string SecretSha256 { get; init; }
    public bool Status { get; set; } = true;

    /// <summary>Unix seconds after which the application is refused; null = never.</summary>
    public long? Expired { get; set; }
}

/// <summary>
/// The management API's applications beside the default one (EMQX 4's <c>/api/v4/apps</c>): more id/secret pairs, each
/// enabled or not and optionally expiring, in <c>data/management_apps.json</c> (mode 0600, rewritten whole through a
/// temporary file). Secrets are made here (32 random bytes) unless the caller gives one at least as long, shown once,
/// and kept only as SHA-256: they are random keys, not passwords people choose, so a slow hash would add nothing but
/// cost per request.
/// </summary>
internal sealed class ManagementApps
{
    public const string FileName = "management_apps.json";

    /// <summary>The shortest secret a caller may choose; made ones are 43 characters (32 random bytes).</summary>
    public const int MinSecretLength = 32;

    private readonly string _path;
    private readonly Lock _lock = new();
    private readonly List<StoredApp> _apps;

    private ManagementApps(string path, List<StoredApp> apps)
    {
        _path = path;
        _apps = apps;
    }

    /// <summary>Reads the file (none yet: no applications).</summary>
    /// <exception cref="InvalidDataException">The file is not a list of applications; the message names it.</exception>
    public static ManagementApps Open(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, FileName);
        if (!File.Exists(path))
            return new ManagementApps(path, []);
        try
        {
            var apps = JsonSerializer.Deserialize(File.ReadAllText(path), ManagementJsonContext.Default.ListStoredApp) ?? [];
            if (apps.Find(a => a.SecretSha256.Length != 64 || !a.SecretSha256.All(char.IsAsciiHexDigit)) is { } bad)
                throw new JsonException($"application '{bad.AppId}' has no valid secret_sha256");
            return new ManagementApps(path, apps);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: not a list of management applications ({ex.Message}); fix or delete it (deleting removes every application but the default one)", ex);
        }
    }

    /// <summary>Whether <paramref name="appId"/> exists, is enabled, has not expired and <paramref name="secret"/> is its own.</summary>
    public bool IsAuthorized(string appId, ReadOnlySpan<byte> secret, DateTimeOffset now)
    {
        StoredApp? app;
        lock (_lock)
            app = _apps.Find(a => a.AppId == appId);
        if (app is null || !app.Status || (app.Expired is { } expired && now.ToUnixTimeSeconds() >= expired))
            return false;
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(secret), Convert.FromHexString(app.SecretSha256));
    }

    public IReadOnlyList<StoredApp> List()
    {
        lock (_lock)
            return [.. _apps];
    }

    public StoredApp? Find(string appId)
    {
        lock (_lock)
            return _apps.Find(a => a.AppId == appId);
    }

    /// <summary>Adds an application; returns its secret, or null with <paramref name="problem"/>.</summary>
    public string? Add(string appId, string name, string? secret, string desc, bool status, long? expired, out string? problem)
    {
        // A secret of the caller's must be as long as a made one: it is kept as a plain SHA-256, which suits random keys
        // and would not protect a short, guessable one.
        if (secret is { Length: < MinSecretLength })
        {
            problem = $"secret must be at least {MinSecretLength} characters (or leave it out to have a random one made)";
            return null;
        }
        secret ??= Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        lock (_lock)
        {
            if (_apps.Exists(a => a.AppId == appId))
            {
                problem = $"application '{appId}' exists";
                return null;
            }
            _apps.Add(new StoredApp
            {
                AppId = appId,
                Name = name,
                Desc = desc,
                SecretSha256 = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(secret))),
                Status = status,
                Expired = expired,
            });
            Save();
        }
        problem = null;
        return secret;
    }

    /// <summary>Changes what is given; false for an unknown application.</summary>
    public bool Update(string appId, string? name, string? desc, bool? status, long? expired, bool clearExpiry)
    {
        lock (_lock)
        {
            var app = _apps.Find(a => a.AppId == appId);
            if (app is null)
                return false;
            app.Name = name ?? app.Name;
            app.Desc = desc ?? app.Desc;
            app.Status = status ?? app.Status;
            app.Expired = clearExpiry ? null : expired ?? app.Expired;
            Save();
            return true;
        }
    }

    public bool Delete(string appId)
    {
        lock (_lock)
        {
            if (_apps.RemoveAll(a => a.AppId == appId) == 0)
                return false;
            Save();
            return true;
        }
    }

    private void Save()
    {
        var temporary = _path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        using (var stream = new FileStream(temporary, options))
        {
            JsonSerializer.Serialize(stream, _apps, ManagementJsonContext.Default.ListStoredApp);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, _path, overwrite: true);
    }
}
