using System.Globalization;

namespace Broker.Cluster;

/// <summary>
/// <c>data/cluster.state</c>: what <c>ctl cluster join</c> / <c>leave</c> (or a force-leave from another node) decided,
/// so a restart keeps it. It overrides <c>cluster.enable</c> and <c>cluster.nats.servers</c> of etc/broker.conf, which
/// is never rewritten (an operator's file, comments and all, stays as written); the start-up log says when the override
/// applies. Deleting the file goes back to broker.conf.
/// </summary>
/// <remarks>Format: <c>key = value</c> lines, <c>#</c> comments; keys <c>membership</c> (<c>joined</c> or <c>left</c>), <c>servers</c>, <c>changed</c>, <c>by</c>.</remarks>
internal sealed record ClusterState(bool Joined, string Servers, string Changed, string By)
{
    public const string FileName = "cluster.state";

    /// <summary>The state in <paramref name="dataDirectory"/>, or null when there is none (broker.conf decides).</summary>
    /// <exception cref="InvalidDataException">The file cannot be read as a cluster state (the message says where).</exception>
    public static ClusterState? Read(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, FileName);
        if (!File.Exists(path))
            return null;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var number = 0;
        foreach (var raw in File.ReadLines(path))
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
                throw new InvalidDataException($"{path}:{number}: expected key = value");
            values[line[..equals].Trim()] = line[(equals + 1)..].Trim();
        }
        var membership = values.GetValueOrDefault("membership", "");
        if (membership is not ("joined" or "left"))
            throw new InvalidDataException($"{path}: membership must be joined or left, not '{membership}'");
        var servers = values.GetValueOrDefault("servers", "");
        if (membership == "joined" && servers.Length == 0)
            throw new InvalidDataException($"{path}: membership = joined needs servers = nats://host:port");
        return new ClusterState(membership == "joined", servers, values.GetValueOrDefault("changed", ""), values.GetValueOrDefault("by", ""));
    }

    /// <summary>A new state, as of now.</summary>
    public static ClusterState Now(bool joined, string servers, string by, TimeProvider time) =>
        new(joined, servers, time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), by);

    /// <summary>Writes it atomically (a crash leaves the old file or the new one), readable by the broker's user only (a URL may hold NATS credentials).</summary>
    public void Write(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(dataDirectory, FileName);
        var temp = path + ".tmp";
        File.WriteAllText(temp, "");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.AppendAllText(temp,
            "# Written by the broker (ctl cluster join/leave, or a force-leave from another node); read at start.\n" +
            "# Overrides cluster.enable and cluster.nats.servers of etc/broker.conf; delete it to go back to broker.conf.\n" +
            $"membership = {(Joined ? "joined" : "left")}\n" +
            (Joined ? $"servers = {Servers}\n" : "") +
            $"changed = {Changed}\nby = {By}\n");
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Applies the override to the options read from broker.conf.</summary>
    public void ApplyTo(ClusterOptions options)
    {
        options.Enable = Joined;
        if (Joined)
            options.Servers = Servers;
    }
}
