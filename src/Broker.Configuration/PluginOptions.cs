using Broker.Abstractions.Plugins;
using Microsoft.Extensions.Configuration;

namespace Broker.Configuration;

/// <summary>
/// For plugin authors' unit tests: binds an options class from .conf text exactly as
/// <see cref="IPluginContext.BindOptions{T}"/> does inside the broker (sizes, durations, snake_case enums,
/// Min/Max, <see cref="IValidatableOptions"/>), and renders the commented .conf of its defaults, without a broker.
/// Reference this assembly (Broker.Configuration, shipped next to Broker.Abstractions) from a test project only:
/// the plugin itself binds through its context.
/// </summary>
public static class PluginOptions
{
    /// <summary>Binds <paramref name="confText"/>, the contents of an <c>etc/plugins/&lt;name&gt;.conf</c>, to a new <typeparamref name="T"/>.</summary>
    /// <param name="confText"><c>key = value</c> lines; <c>#</c> starts a comment.</param>
    /// <param name="fileName">The file name the error messages give, e.g. <c>acme_hello.conf</c>.</param>
    /// <exception cref="PluginConfigurationException">A line is malformed or a value is bad; one <c>file:line: key = value: problem</c> line each.</exception>
    public static T Parse<T>(string confText, string fileName = "plugin.conf") where T : new()
    {
        ArgumentNullException.ThrowIfNull(confText);
        IConfiguration configuration;
        try
        {
            configuration = new ConfigurationBuilder().Add(new ConfFileConfigurationSource(fileName, optional: false, confText)).Build();
        }
        catch (ConfigurationException ex)
        {
            throw new PluginConfigurationException(ex.Message);
        }
        return Bind<T>(configuration);
    }

    /// <summary>Binds an already built configuration (keys with <c>:</c> separators) to a new <typeparamref name="T"/>.</summary>
    /// <param name="configuration">The configuration, e.g. an in-memory one.</param>
    /// <exception cref="PluginConfigurationException">A value is bad; one line per problem.</exception>
    public static T Bind<T>(IConfiguration configuration) where T : new()
    {
        var options = new T();
        var errors = PluginConfiguration.BindOptions(configuration, options);
        return errors.Count == 0 ? options : throw new PluginConfigurationException(string.Join(Environment.NewLine, errors));
    }

    /// <summary>
    /// Every [ConfKey] of <typeparamref name="T"/> with its description, range and default, as a commented .conf:
    /// what a shipped <c>etc/plugins/&lt;name&gt;.conf</c> should end with (test that it does, so the file stays true).
    /// </summary>
    public static string DefaultConf<T>() where T : new() => ConfDocs.Render(typeof(T));
}
