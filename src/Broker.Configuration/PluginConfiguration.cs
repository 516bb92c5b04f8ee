using Microsoft.Extensions.Configuration;

namespace Broker.Configuration;

/// <summary>
/// A plugin's configuration: <c>etc/plugins/&lt;name&gt;.conf</c> (optional) overridden by
/// <c>BROKER_PLUGINS__&lt;NAME&gt;__*</c> environment variables (<c>BROKER_PLUGINS__AUTH_REDIS__REDIS__SERVER</c> sets
/// <c>redis.server</c> of auth_redis). Read afresh for every load and reload.
/// </summary>
internal static class PluginConfiguration
{
    /// <summary>Builds the configuration; a syntax error throws <see cref="ConfigurationException"/> naming file and line.</summary>
    public static IConfiguration Load(string etcDirectory, string name, IDictionary<string, string>? environment = null)
    {
        var builder = new ConfigurationBuilder().AddConfFile(FileOf(etcDirectory, name), optional: true);
        var prefix = $"{ConfConfigurationExtensions.EnvironmentPrefix}PLUGINS__{name.ToUpperInvariant()}__";
        if (environment is null)
            builder.AddBrokerEnvironment(prefix);
        else
            builder.AddBrokerEnvironment(environment, prefix);
        return builder.Build();
    }

    /// <summary>
    /// Binds a plugin's options by their [ConfKey] properties with the broker's rules; returns one
    /// "file:line: key = value: problem" line per bad value (what <c>IPluginContext.BindOptions</c> reports).
    /// </summary>
    /// <remarks>
    /// A key of the plugin's .conf file that the options class does not bind (a typo, a key of another version) is
    /// reported as for broker.conf, with the closest known key; environment variables are not checked.
    /// </remarks>
    public static IReadOnlyList<string> BindOptions(IConfiguration configuration, object options)
    {
        var errors = new List<ConfigurationError>();
        if (configuration is IConfigurationRoot root)
            errors.AddRange(ConfBinder.CheckUnknownKeys(root, ConfBinder.KnownKeys(options.GetType())));
        errors.AddRange(ConfBinder.TryBind(configuration, options));
        var lines = new string[errors.Count];
        for (var i = 0; i < lines.Length; i++)
            lines[i] = errors[i].ToString();
        return lines;
    }

    /// <summary>Where a dotted key was set (<c>file:line</c> or the environment variable); null when it is not set.</summary>
    public static string? OriginOf(IConfiguration configuration, string key) =>
        ConfKeys.FindOrigin(configuration, key.Replace('.', ':'))?.ToString();

    /// <summary>Where <paramref name="name"/>'s .conf lives.</summary>
    public static string FileOf(string etcDirectory, string name) => Path.Combine(etcDirectory, "plugins", name + ".conf");
}
