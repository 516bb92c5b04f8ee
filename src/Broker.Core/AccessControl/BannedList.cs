using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.Core.AccessControl;

/// <summary>What a <see cref="Ban"/> names: its spelling in the API, <c>ctl</c> and the file is EMQX 4's (<see cref="BannedList.KindName"/>).</summary>
public enum BanKind
{
    ClientId,
    Username,
    Address,
}

/// <summary>One entry of the banned list: clients whose <paramref name="As"/> is <paramref name="Who"/> are refused until <paramref name="Until"/>.</summary>
/// <param name="As">What <paramref name="Who"/> is: a client id, a user name or a peer address.</param>
/// <param name="Who">The client id, user name, or address (normalised by <see cref="BannedList.Add"/>: IPv4-mapped IPv6 as IPv4).</param>
/// <param name="Reason">Free text for the operator.</param>
/// <param name="By">Who banned: an operator's name, <c>ctl</c>, or the broker itself (login-failure tracking).</param>
/// <param name="At">When the ban was made.</param>
/// <param name="Until">When it ends; from then on it matches nobody.</param>
public sealed record Ban(BanKind As, string Who, string Reason, string By, DateTimeOffset At, DateTimeOffset Until);

/// <summary>
/// EMQX's <c>emqx_banned</c>: clients refused at CONNECT by client id, user name or peer address, each ban until a
/// time. Checked on every CONNECT before authentication, so a banned client costs no password hashing.
/// </summary>
/// <remarks>
/// <para>
/// Reads never lock: the bans are an immutable dictionary keyed by (kind, who), replaced whole on every change
/// (changes are rare: an operator, or the login-failure tracker). <see cref="Find"/> on an empty list is one
/// volatile read and a count check; otherwise at most three dictionary lookups.
/// </para>
/// <para>
/// Persisted, when a path is given, as one JSON document (an array of bans, times in ISO 8601) written atomically
/// after every change, so bans survive a restart. Expired bans are dropped when the file is loaded and purged from
/// memory when a lookup meets one. A file that cannot be read is logged, naming it, and the list starts empty: a
/// damaged ban file must not keep the broker from serving.
/// </para>
/// </remarks>
public sealed partial class BannedList
{
    private static readonly Dictionary<(BanKind, string), Ban> Empty = [];

    private readonly Lock _write = new();
    private readonly TimeProvider _time;
    private readonly string? _path;
    private readonly ILogger _logger;
    private volatile Dictionary<(BanKind, string), Ban> _bans = Empty;

    /// <summary>Loads the bans of <paramref name="path"/> (if the file exists) that have not expired.</summary>
    /// <param name="time">The clock deciding expiry.</param>
    /// <param name="path">The file where bans persist (<c>&lt;data dir&gt;/banned</c>); null keeps them in memory only.</param>
    /// <param name="logger">Where a file that cannot be read or written is reported.</param>
    internal BannedList(TimeProvider time, string? path, ILogger? logger = null)
    {
        _time = time;
        _path = path;
        _logger = logger ?? NullLogger.Instance;
        if (path is not null && File.Exists(path))
            Load(path);
    }

    /// <summary>Bans held, expired ones not yet purged included: zero means <see cref="Find"/> has nothing to do.</summary>
    internal int Count => _bans.Count;

    /// <summary>Told of the changes made on this node (not of those applied from other nodes); the cluster sets it.</summary>
    internal Cluster.IBanObserver? Observer { get; set; }

    /// <summary>Adds <paramref name="ban"/>, replacing any ban of the same (<see cref="Ban.As"/>, <see cref="Ban.Who"/>), and persists.</summary>
    /// <remarks>Does not disconnect anyone: <see cref="BrokerEngine.BanAsync"/> does that for operators' bans, and says so in <paramref name="disconnects"/>.</remarks>
    internal void Add(Ban ban, bool disconnects = false)
    {
        ban = Apply(ban);
        Observer?.BanAdded(ban, disconnects);
    }

    /// <summary>Adds a ban another node made (<see cref="Add"/> without telling <see cref="Observer"/>); returns it normalised.</summary>
    internal Ban Apply(Ban ban)
    {
        ban = ban with { Who = Normalize(ban.As, ban.Who) };
        Change(bans =>
        {
            bans[(ban.As, ban.Who)] = ban;
            return true;
        });
        return ban;
    }

    /// <summary>Removes the ban of <paramref name="who"/> as <paramref name="kind"/>; false if there was none.</summary>
    internal bool Remove(BanKind kind, string who)
    {
        if (!ApplyRemove(kind, who))
            return false;
        Observer?.BanRemoved(kind, Normalize(kind, who));
        return true;
    }

    /// <summary>Removes a ban another node lifted (<see cref="Remove"/> without telling <see cref="Observer"/>).</summary>
    internal bool ApplyRemove(BanKind kind, string who)
    {
        var key = (kind, Normalize(kind, who));
        return Change(bans => bans.Remove(key));
    }

    /// <summary>The bans in force now, in no particular order.</summary>
    internal List<Ban> List()
    {
        var now = _time.GetUtcNow();
        var list = new List<Ban>();
        foreach (var ban in _bans.Values)
        {
            if (ban.Until > now)
                list.Add(ban);
        }
        return list;
    }

    /// <summary>The ban that refuses a client with this id, user name and address, or null; expired bans never match.</summary>
    internal Ban? Find(string clientId, string? username, IPAddress? address)
    {
        var bans = _bans;
        if (bans.Count == 0)
            return null;
        return InForce(bans, BanKind.ClientId, clientId)
            ?? (username is null ? null : InForce(bans, BanKind.Username, username))
            ?? (address is null ? null : InForce(bans, BanKind.Address, Normalize(address)));
    }

    /// <summary>The ban of <paramref name="who"/> as <paramref name="kind"/> if it has not expired; an expired one is purged.</summary>
    private Ban? InForce(Dictionary<(BanKind, string), Ban> bans, BanKind kind, string who)
    {
        if (!bans.TryGetValue((kind, who), out var ban))
            return null;
        if (ban.Until > _time.GetUtcNow())
            return ban;
        Purge(ban);
        return null;
    }

    /// <summary>EMQX 4's spelling of <paramref name="kind"/>: <c>clientid</c>, <c>username</c>, <c>peerhost</c>.</summary>
    public static string KindName(BanKind kind) => kind switch
    {
        BanKind.ClientId => "clientid",
        BanKind.Username => "username",
        _ => "peerhost",
    };

    /// <summary>Reads EMQX 4's spelling (<see cref="KindName"/>) of a ban kind.</summary>
    public static bool TryParseKind(string? text, out BanKind kind)
    {
        switch (text)
        {
            case "clientid":
                kind = BanKind.ClientId;
                return true;
            case "username":
                kind = BanKind.Username;
                return true;
            case "peerhost":
                kind = BanKind.Address;
                return true;
            default:
                kind = default;
                return false;
        }
    }

    /// <summary>The address as bans spell it: an IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer) as IPv4.</summary>
    public static string Normalize(IPAddress address) => (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    /// <summary><paramref name="who"/> as bans of <paramref name="kind"/> spell it: addresses as <see cref="Normalize(IPAddress)"/>, the rest as given.</summary>
    public static string Normalize(BanKind kind, string who) =>
        kind == BanKind.Address && IPAddress.TryParse(who, out var address) ? Normalize(address) : who;

    /// <summary>Drops an expired ban a lookup met, unless it was replaced meanwhile; the file keeps it until the next change or load.</summary>
    private void Purge(Ban expired)
    {
        var key = (expired.As, expired.Who);
        Change(bans => bans.TryGetValue(key, out var current) && ReferenceEquals(current, expired) && bans.Remove(key), persist: false);
    }

    /// <summary>Copies the bans, applies <paramref name="change"/>, publishes the copy and persists it; returns what the change returned.</summary>
    private bool Change(Func<Dictionary<(BanKind, string), Ban>, bool> change, bool persist = true)
    {
        lock (_write)
        {
            var bans = new Dictionary<(BanKind, string), Ban>(_bans);
            if (!change(bans))
                return false;
            _bans = bans;
            if (persist && _path is not null)
                Save(_path, bans.Values);
            return true;
        }
    }

    private void Load(string path)
    {
        var now = _time.GetUtcNow();
        var bans = new Dictionary<(BanKind, string), Ban>();
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            foreach (var entry in document.RootElement.EnumerateArray())
            {
                if (!TryParseKind(entry.GetProperty("as").GetString(), out var kind))
                    throw new FormatException($"unknown \"as\": {entry.GetProperty("as")}");
                var ban = new Ban(kind, entry.GetProperty("who").GetString() ?? throw new FormatException("\"who\" is null"),
                    entry.GetProperty("reason").GetString() ?? "", entry.GetProperty("by").GetString() ?? "",
                    entry.GetProperty("at").GetDateTimeOffset(), entry.GetProperty("until").GetDateTimeOffset());
                if (ban.Until > now)
                    bans[(ban.As, ban.Who)] = ban;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException
            or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            LogLoadFailed(_logger, ex, path);
            return;
        }
        _bans = bans;
    }

    /// <summary>Writes the bans atomically: a temporary file beside <paramref name="path"/>, flushed, renamed over it.</summary>
    private void Save(string path, IEnumerable<Ban> bans)
    {
        var temp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
                {
                    json.WriteStartArray();
                    foreach (var ban in bans)
                    {
                        json.WriteStartObject();
                        json.WriteString("as", KindName(ban.As));
                        json.WriteString("who", ban.Who);
                        json.WriteString("reason", ban.Reason);
                        json.WriteString("by", ban.By);
                        json.WriteString("at", ban.At);
                        json.WriteString("until", ban.Until);
                        json.WriteEndObject();
                    }
                    json.WriteEndArray();
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The ban holds in memory; it is lost at the next restart, which the log says.
            LogSaveFailed(_logger, ex, path);
            File.Delete(temp);
        }
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Error, Message = "The banned list {Path} cannot be read: starting with no bans")]
    private static partial void LogLoadFailed(ILogger logger, Exception ex, string path);

    [LoggerMessage(EventId = 61, Level = LogLevel.Error, Message = "The banned list {Path} cannot be written: the change holds until the broker stops")]
    private static partial void LogSaveFailed(ILogger logger, Exception ex, string path);
}
