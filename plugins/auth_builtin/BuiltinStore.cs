using System.Text;
using System.Text.Json;
using Broker.Plugins.Auth;

namespace Broker.Plugins.AuthBuiltin;

/// <summary>
/// The database on disk: one JSON file (<c>data/plugins/auth_builtin/auth_builtin.json</c>) read at start and written
/// whole after every change, atomically (a temporary file in the same directory, written, flushed to disk, renamed
/// over the old one), so a crash leaves the old file or the new one, never half of either.
/// </summary>
/// <remarks>
/// <para>
/// Why a file and not a database: the data is small (users and rules an operator manages, thousands rather than
/// millions), every lookup is served from memory (<see cref="Current"/>), and changes are rare and made by hand or by
/// provisioning scripts. A JSON file needs no native library inside an unloadable plugin, can be read, diffed and
/// backed up with ordinary tools, and is rewritten in milliseconds at that size.
/// </para>
/// <para>
/// Changes are serialized (<see cref="Change{T}"/>); the new state is published only once it is on disk, so what
/// answers CONNECTs is always what a restart would load. Readers take <see cref="Current"/> without locking.
/// </para>
/// </remarks>
internal sealed class BuiltinStore
{
    private const int FormatVersion = 1;

    private readonly Lock _writeLock = new();
    private volatile Version _current;

    private BuiltinStore(string path, Version data)
    {
        FilePath = path;
        _current = data;
    }

    public string FilePath { get; }

    /// <summary>The data now; immutable.</summary>
    public BuiltinData Current => _current.Data;

    /// <summary>When and on which node the data was last changed (unix ms, node name); 0 and "" for a file that never was.</summary>
    public (long At, string Node) Stamp => (_current.At, _current.Node);

    /// <summary>The stamp of a change made now on this node; the store keeps it above the current one.</summary>
    public Func<(long At, string Node)> Clock { get; set; } = () => (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), "");

    /// <summary>Called after each change made here (<see cref="Change{T}"/>), outside the store's lock.</summary>
    public Action? Changed { get; set; }

    /// <summary>Loads <paramref name="path"/>, or starts empty when there is no such file.</summary>
    /// <exception cref="InvalidDataException">The file is not a database of this plugin; the message names the file and what is wrong.</exception>
    public static BuiltinStore Open(string path)
    {
        if (!File.Exists(path))
            return new BuiltinStore(path, new Version(BuiltinData.Empty, 0, ""));
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            return new BuiltinStore(path, Read(document.RootElement));
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: not valid JSON (line {ex.LineNumber + 1}): {ex.Message}", ex);
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException($"{path}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Applies <paramref name="change"/> to a copy of the data, writes it to disk and publishes it; when the change
    /// throws (a validation) or the write fails, nothing changes. Returns what the change returned.
    /// </summary>
    public T Change<T>(Func<Builder, T> change)
    {
        T result;
        lock (_writeLock)
        {
            var builder = new Builder(_current.Data);
            result = change(builder);
            if (!builder.Changed)
                return result;
            var (at, node) = Clock();
            var next = new Version(builder.Build(), Math.Max(at, _current.At + 1), node);
            Save(next);
            _current = next;
        }
        Changed?.Invoke();
        return result;
    }

    /// <summary>The whole database as its file holds it (with its stamp), for another node.</summary>
    public byte[] Export()
    {
        using var stream = new MemoryStream();
        Write(stream, _current);
        return stream.ToArray();
    }

    /// <summary>
    /// Takes another node's database (<see cref="Export"/>) when it was changed later than this one (by stamp: time,
    /// then node name); writes it to disk first, as a change. Returns whether it was taken.
    /// </summary>
    /// <exception cref="InvalidDataException">Not a database of this plugin.</exception>
    public bool Import(ReadOnlyMemory<byte> json)
    {
        Version incoming;
        try
        {
            using var document = JsonDocument.Parse(json);
            incoming = Read(document.RootElement);
        }
        catch (Exception ex) when (ex is JsonException or FormatException)
        {
            throw new InvalidDataException(ex.Message, ex);
        }
        lock (_writeLock)
        {
            var current = _current;
            if (incoming.At < current.At || (incoming.At == current.At && string.CompareOrdinal(incoming.Node, current.Node) <= 0))
                return false;
            Save(incoming);
            _current = incoming;
            return true;
        }
    }

    /// <summary>The data with the stamp of its last change.</summary>
    private sealed record Version(BuiltinData Data, long At, string Node);

    /// <summary>A mutable copy of the data for one change.</summary>
    internal sealed class Builder(BuiltinData from)
    {
        public Dictionary<string, User> Usernames { get; } = new(from.Usernames, StringComparer.Ordinal);

        public Dictionary<string, User> ClientIds { get; } = new(from.ClientIds, StringComparer.Ordinal);

        public List<Rule> Rules { get; } = [.. from.Rules];

        public bool Changed { get; set; }

        public Dictionary<string, User> Table(UserTable table) => table == UserTable.Username ? Usernames : ClientIds;

        public BuiltinData Build() => new(Usernames, ClientIds, Rules);
    }

    private void Save(Version data)
    {
        var full = Path.GetFullPath(FilePath);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // it holds password hashes
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                Write(stream, data);
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

    private static void Write(Stream stream, Version version)
    {
        var data = version.Data;
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteNumber("version", FormatVersion);
        // When and where it was last changed: which of two nodes' databases is newer (README, "In a cluster").
        json.WriteNumber("changed_at", version.At);
        json.WriteString("changed_on", version.Node);
        foreach (var (table, property) in new[] { (UserTable.Username, "auth_username"), (UserTable.ClientId, "auth_clientid") })
        {
            json.WriteStartArray(property);
            foreach (var user in data.Table(table).Values.OrderBy(u => u.Login, StringComparer.Ordinal))
            {
                json.WriteStartObject();
                json.WriteString(table == UserTable.Username ? "username" : "clientid", user.Login);
                json.WriteString("password", user.Password.Encoded);
                json.WriteBoolean("is_superuser", user.IsSuperuser);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        json.WriteStartArray("acl");
        foreach (var rule in data.Rules)
            WriteRule(json, rule);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>
    /// A rule as EMQX 4's API shows it: <c>username</c>, <c>clientid</c> or <c>all: "$all"</c>, then topic, action,
    /// access, and the <paramref name="result"/> of adding it when given.
    /// </summary>
    public static void WriteRule(Utf8JsonWriter json, Rule rule, string? result = null)
    {
        json.WriteStartObject();
        json.WriteString(rule.Kind switch { RuleLogin.Username => "username", RuleLogin.ClientId => "clientid", _ => "all" }, rule.Login);
        json.WriteString("topic", rule.Topic);
        json.WriteString("action", Rule.ActionName(rule.Action));
        json.WriteString("access", rule.Allow ? "allow" : "deny");
        if (result is not null)
            json.WriteString("result", result);
        json.WriteEndObject();
    }

    private static Version Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new FormatException("expected a JSON object {\"version\": 1, \"auth_username\": [...], \"auth_clientid\": [...], \"acl\": [...]}");
        if (!root.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Number || version.GetInt32() != FormatVersion)
            throw new FormatException($"\"version\" must be {FormatVersion}");
        var usernames = ReadUsers(root, "auth_username", "username");
        var clientIds = ReadUsers(root, "auth_clientid", "clientid");
        var rules = new List<Rule>();
        var index = 0;
        foreach (var element in Array(root, "acl"))
        {
            if (!Rule.TryParse(element, out var rule, out var problem))
                throw new FormatException($"acl[{index}]: {problem}");
            rules.Add(rule);
            index++;
        }
        var at = root.TryGetProperty("changed_at", out var a) && a.ValueKind == JsonValueKind.Number ? a.GetInt64() : 0;
        var node = root.TryGetProperty("changed_on", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
        return new Version(new BuiltinData(usernames, clientIds, rules), at, node);
    }

    private static Dictionary<string, User> ReadUsers(JsonElement root, string property, string loginField)
    {
        var users = new Dictionary<string, User>(StringComparer.Ordinal);
        var index = 0;
        foreach (var element in Array(root, property))
        {
            var where = $"{property}[{index++}]";
            var login = element.ValueKind == JsonValueKind.Object && element.TryGetProperty(loginField, out var l) && l.ValueKind == JsonValueKind.String ? l.GetString()! : "";
            if (login.Length == 0)
                throw new FormatException($"{where}: no \"{loginField}\"");
            if (!element.TryGetProperty("password", out var p) || p.ValueKind != JsonValueKind.String
                || !StoredPassword.TryParse(p.GetString()!, out var password, out var problem))
                throw new FormatException($"{where} ({login}): \"password\" is not a password hash");
            var superuser = element.TryGetProperty("is_superuser", out var s) && s.ValueKind == JsonValueKind.True;
            if (!users.TryAdd(login, new User(login, password, superuser)))
                throw new FormatException($"{where}: {loginField} '{login}' appears twice");
        }
        return users;
    }

    private static IEnumerable<JsonElement> Array(JsonElement root, string property)
    {
        if (!root.TryGetProperty(property, out var array))
            return [];
        return array.ValueKind == JsonValueKind.Array ? array.EnumerateArray() : throw new FormatException($"\"{property}\" must be an array");
    }
}
