using System.Security.Cryptography;
using System.Text.Json;
using Broker.Core.AccessControl;
using System.Text.Json.Serialization;

namespace Broker.Plugins.Dashboard;

/// <summary>One dashboard user as stored: the password only as a PBKDF2-SHA512 hash in etc/passwd's format.</summary>
internal sealed class Admin
{
    [JsonPropertyName("username")]
    public required string Username { get; init; }

    [JsonPropertyName("password_hash")]
    public required string PasswordHash { get; set; }

    [JsonPropertyName("description")]
    public string Description { get; set; } = "";

    /// <summary>Set on the default user: its password came from a .conf file, so it must be changed before anything else.</summary>
    [JsonPropertyName("must_change_password")]
    public bool MustChangePassword { get; set; }
}

/// <summary>
/// The dashboard's users (EMQX 4's <c>mqtt_admin</c>), in <c>data/plugins/dashboard/admins.json</c> (mode 0600),
/// rewritten whole on each change (write to a temporary file, then rename over: never half a file). The first start
/// creates the default user from <c>dashboard.default_user.*</c>, marked to change its password at first sign-in.
/// </summary>
/// <remarks>
/// A JSON file rather than a database: a handful of users, changed by hand now and then, read once per start.
/// Hashes are <c>$pbkdf2-sha512$&lt;iterations&gt;$&lt;salt&gt;$&lt;hash&gt;</c> as in etc/passwd, compared in constant time.
/// </remarks>
internal sealed class AdminStore
{
    private readonly string _path;
    private readonly int _iterations;
    private readonly Lock _lock = new();
    private List<Admin> _admins; // replaced whole, after the new list is on disk
    private readonly string _unknownUserHash;

    private AdminStore(string path, int iterations, List<Admin> admins)
    {
        _path = path;
        _iterations = iterations;
        _admins = admins;
        _unknownUserHash = Hash(Convert.ToHexString(RandomNumberGenerator.GetBytes(16)));
    }

    /// <summary>Reads the file, or creates it with the default user.</summary>
    /// <exception cref="PluginConfigurationException">The file exists but is not a list of users.</exception>
    public static AdminStore Open(string directory, DashboardOptions options)
    {
        var path = Path.Combine(directory, "admins.json");
        if (!File.Exists(path))
        {
            var store = new AdminStore(path, options.HashIterations, []);
            store._admins.Add(new Admin
            {
                Username = options.DefaultLogin,
                PasswordHash = store.Hash(options.DefaultPassword),
                Description = "the default user",
                MustChangePassword = true,
            });
            store.Save(store._admins);
            return store;
        }
        try
        {
            var admins = JsonSerializer.Deserialize(File.ReadAllText(path), DashboardJson.Default.ListAdmin) ?? throw new JsonException("null");
            return new AdminStore(path, options.HashIterations, admins);
        }
        catch (JsonException ex)
        {
            throw new PluginConfigurationException($"{path}: not a list of dashboard users ({ex.Message}); fix or delete it (deleting recreates the default user)");
        }
    }

    public AdminView[] List()
    {
        lock (_lock)
            return [.. _admins.Select(a => new AdminView { Username = a.Username, Description = a.Description, MustChangePassword = a.MustChangePassword })];
    }

    /// <summary>The user if the password is theirs; an unknown user costs the same hashing, so timing tells nothing.</summary>
    public Admin? Verify(string username, string password)
    {
        Admin? admin;
        lock (_lock)
            admin = _admins.Find(a => a.Username == username);
        var ok = VerifyHash(admin?.PasswordHash ?? _unknownUserHash, password);
        return ok && admin is not null ? admin : null;
    }

    /// <summary>Adds a user; false when the name is taken.</summary>
    public bool Add(string username, string password, string description)
    {
        var hash = Hash(password);
        return Change(admins =>
        {
            if (admins.Exists(a => a.Username == username))
                return false;
            admins.Add(new Admin { Username = username, PasswordHash = hash, Description = description });
            return true;
        });
    }

    /// <summary>Sets a user's password (and clears the must-change mark); false for an unknown user.</summary>
    public bool SetPassword(string username, string password)
    {
        var hash = Hash(password);
        return Change(admins =>
        {
            var index = admins.FindIndex(a => a.Username == username);
            if (index < 0)
                return false;
            admins[index] = new Admin { Username = username, PasswordHash = hash, Description = admins[index].Description };
            return true;
        });
    }

    /// <summary>Removes a user; refuses to remove the last one (nobody could sign in).</summary>
    public DeleteResult Delete(string username)
    {
        var result = DeleteResult.NotFound;
        Change(admins =>
        {
            var index = admins.FindIndex(a => a.Username == username);
            if (index < 0)
                return false;
            if (admins.Count == 1)
            {
                result = DeleteResult.LastUser;
                return false;
            }
            admins.RemoveAt(index);
            result = DeleteResult.Deleted;
            return true;
        });
        return result;
    }

    /// <summary>
    /// Applies <paramref name="change"/> to a copy of the users; when it says it changed something, writes the copy and
    /// only then uses it: a write that fails (disk full) changes nothing, in memory or on disk.
    /// </summary>
    private bool Change(Func<List<Admin>, bool> change)
    {
        lock (_lock)
        {
            var copy = new List<Admin>(_admins);
            if (!change(copy))
                return false;
            Save(copy);
            _admins = copy;
            return true;
        }
    }

    public bool MustChangePassword(string username)
    {
        lock (_lock)
            return _admins.Find(a => a.Username == username)?.MustChangePassword ?? false;
    }

    public bool Exists(string username)
    {
        lock (_lock)
            return _admins.Exists(a => a.Username == username);
    }

    private string Hash(string password) => PasswordFileHash.Create(password, _iterations).Encoded;

    private static bool VerifyHash(string stored, string password) =>
        PasswordFileHash.TryParse(stored, out var hash, out _) && hash.Matches(password);

    private void Save(List<Admin> admins)
    {
        var temporary = _path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temporary, options))
        {
            JsonSerializer.Serialize(stream, admins, DashboardJson.Default.ListAdmin);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, _path, overwrite: true);
    }
}

internal enum DeleteResult
{
    Deleted,
    NotFound,
    LastUser,
}
