using Microsoft.Extensions.Configuration;

namespace Broker.Configuration;

/// <summary>A configuration provider that can say where each of its values was set.</summary>
internal interface IConfOriginProvider
{
    /// <summary>The origin of the value at configuration path <paramref name="path"/> (<c>a:b:c</c>), if this provider has one.</summary>
    bool TryGetOrigin(string path, out ConfOrigin origin);
}

/// <summary>A .conf file, or (with <paramref name="text"/>) .conf text that error messages attribute to <paramref name="path"/>.</summary>
internal sealed class ConfFileConfigurationSource(string path, bool optional, string? text = null) : IConfigurationSource
{
    public string Path { get; } = path;

    public bool Optional { get; } = optional;

    public string? Text { get; } = text;

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new ConfFileConfigurationProvider(this);
}

/// <summary>Maps the entries of one .conf file onto configuration: <c>a.b.c</c> becomes path <c>a:b:c</c>.</summary>
internal sealed class ConfFileConfigurationProvider(ConfFileConfigurationSource source) : ConfigurationProvider, IConfOriginProvider
{
    private readonly Dictionary<string, ConfOrigin> _origins = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The parsed file after <see cref="Load"/>; null when an optional file is absent.</summary>
    public ConfFile? File { get; private set; }

    public override void Load()
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        _origins.Clear();
        if (source.Text is null && !System.IO.File.Exists(source.Path))
        {
            if (!source.Optional)
            {
                throw new ConfigurationException([new ConfigurationError(ConfOrigin.InFile(source.Path, 0), null, null, "file not found")]);
            }

            File = null;
            Data = data;
            return;
        }

        File = source.Text is null ? ConfFile.Parse(source.Path) : ConfFile.ParseText(source.Path, source.Text);
        foreach (var entry in File.Entries)
        {
            var path = ConfKeys.ToPath(entry.Key);
            data[path] = entry.Value;
            _origins[path] = ConfOrigin.InFile(source.Path, entry.Line);
        }

        Data = data;
    }

    public bool TryGetOrigin(string path, out ConfOrigin origin) => _origins.TryGetValue(path, out origin!);
}

internal sealed class BrokerEnvironmentConfigurationSource(string prefix, IDictionary<string, string>? variables) : IConfigurationSource
{
    public string Prefix { get; } = prefix;

    /// <summary>Variables to read instead of the process environment (tests).</summary>
    public IDictionary<string, string>? Variables { get; } = variables;

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new BrokerEnvironmentConfigurationProvider(this);
}

/// <summary>
/// <c>BROKER_LISTENER__TCP__EXTERNAL</c> sets <c>listener.tcp.external</c>: the prefix is removed,
/// <c>__</c> separates words and the name is lower-cased, so a single <c>_</c> stays part of a word
/// (<c>BROKER_MQTT__MAX_PACKET_SIZE</c> is <c>mqtt.max_packet_size</c>). The value is taken as is: no
/// quote stripping, since the shell already did that.
/// </summary>
internal sealed class BrokerEnvironmentConfigurationProvider(BrokerEnvironmentConfigurationSource source) : ConfigurationProvider, IConfOriginProvider
{
    private readonly Dictionary<string, ConfOrigin> _origins = new(StringComparer.OrdinalIgnoreCase);

    public override void Load()
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        _origins.Clear();
        var variables = (IEnumerable<KeyValuePair<string, string>>?)source.Variables ?? ReadEnvironment();
        foreach (var (name, value) in variables.OrderBy(v => v.Key, StringComparer.Ordinal))
        {
            if (TryGetKey(name, source.Prefix, out var key))
            {
                var path = ConfKeys.ToPath(key);
                data[path] = value;
                _origins[path] = ConfOrigin.InEnvironment(name);
            }
        }

        Data = data;
    }

    public bool TryGetOrigin(string path, out ConfOrigin origin) => _origins.TryGetValue(path, out origin!);

    /// <summary>Each variable that set a key: the dotted key and the variable's name.</summary>
    public IEnumerable<(string Key, string Variable)> Variables
    {
        get
        {
            foreach (var (name, _) in (IEnumerable<KeyValuePair<string, string>>?)source.Variables ?? ReadEnvironment())
            {
                if (TryGetKey(name, source.Prefix, out var key))
                    yield return (key, name);
            }
        }
    }

    /// <summary>The dotted key a variable sets; false for other variables and names that make no valid key.</summary>
    internal static bool TryGetKey(string variable, string prefix, out string key)
    {
        key = "";
        if (!variable.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var candidate = variable[prefix.Length..].Replace("__", ".", StringComparison.Ordinal).ToLowerInvariant();
        if (!ConfFile.IsValidKey(candidate))
        {
            return false;
        }

        key = candidate;
        return true;
    }

    private static List<KeyValuePair<string, string>> ReadEnvironment()
    {
        var result = new List<KeyValuePair<string, string>>();
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string name && entry.Value is string value)
            {
                result.Add(new(name, value));
            }
        }

        return result;
    }
}

/// <summary>Registers the .conf and environment sources.</summary>
internal static class ConfConfigurationExtensions
{
    /// <summary>The usual prefix of broker environment variables.</summary>
    public const string EnvironmentPrefix = "BROKER_";

    /// <summary>
    /// Adds a .conf file. Its path is used as written in error messages, so pass it the way an operator
    /// would recognise it (<c>etc/broker.conf</c>). A missing file is an error unless <paramref name="optional"/>.
    /// Syntax errors are thrown as <see cref="ConfigurationException"/> when the configuration is built.
    /// </summary>
    public static IConfigurationBuilder AddConfFile(this IConfigurationBuilder builder, string path, bool optional = false) =>
        builder.Add(new ConfFileConfigurationSource(path, optional));

    /// <summary>Adds <c>BROKER_*</c> environment variables; add it last so it overrides the files.</summary>
    public static IConfigurationBuilder AddBrokerEnvironment(this IConfigurationBuilder builder, string prefix = EnvironmentPrefix) =>
        builder.Add(new BrokerEnvironmentConfigurationSource(prefix, null));

    /// <summary>As <see cref="AddBrokerEnvironment(IConfigurationBuilder, string)"/>, reading <paramref name="variables"/> instead of the process environment.</summary>
    public static IConfigurationBuilder AddBrokerEnvironment(this IConfigurationBuilder builder, IDictionary<string, string> variables, string prefix = EnvironmentPrefix) =>
        builder.Add(new BrokerEnvironmentConfigurationSource(prefix, variables));
}

/// <summary>Key spelling shared by the providers and the binder.</summary>
internal static class ConfKeys
{
    /// <summary><c>mqtt.max_packet_size</c> to the configuration path <c>mqtt:max_packet_size</c>.</summary>
    public static string ToPath(string key) => key.Replace('.', ConfigurationPath.KeyDelimiter[0]);

    /// <summary>The environment variable that sets <paramref name="key"/>: <c>mqtt.max_packet_size</c> is <c>BROKER_MQTT__MAX_PACKET_SIZE</c>.</summary>
    public static string ToVariable(string key) =>
        ConfConfigurationExtensions.EnvironmentPrefix + key.ToUpperInvariant().Replace(".", "__", StringComparison.Ordinal);

    /// <summary>
    /// Where <paramref name="path"/>'s current value came from: the last provider that has it decides, as in
    /// configuration itself. Sources that keep no origins (in-memory, a section) are named as well as possible;
    /// null only when no provider has the value.
    /// </summary>
    public static ConfOrigin? FindOrigin(IConfiguration configuration, string path)
    {
        if (configuration is not IConfigurationRoot root)
        {
            return configuration[path] is null ? null : ConfOrigin.InFile("configuration", 0);
        }

        var providers = root.Providers.ToArray();
        for (var i = providers.Length - 1; i >= 0; i--)
        {
            if (providers[i].TryGet(path, out _))
            {
                return providers[i] is IConfOriginProvider withOrigin && withOrigin.TryGetOrigin(path, out var origin)
                    ? origin
                    : ConfOrigin.InFile(providers[i].ToString() ?? "configuration", 0);
            }
        }

        return null;
    }
}
