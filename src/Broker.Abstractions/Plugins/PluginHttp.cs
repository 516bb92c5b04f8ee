using System.Text;

namespace Broker.Abstractions.Plugins;

/// <summary>
/// HTTP endpoints a plugin adds to the management API (<see cref="IPluginContext.Http"/>), served under
/// <c>/api/v4/plugins/&lt;plugin&gt;/api/&lt;pattern&gt;</c> with the API's authentication, for dashboards, user management
/// and status pages. Since SDK 1.5.
/// </summary>
public interface IPluginHttp
{
    /// <summary>
    /// Answers <paramref name="method"/> requests whose path below the plugin's prefix matches <paramref name="pattern"/>:
    /// literal segments and <c>{name}</c> segments (<c>users/{name}</c>), the last of which may be <c>{**rest}</c> for
    /// everything after it. The registration ends when disposed or when the plugin stops. A handler that throws is
    /// answered 500 and logged; a path no registration matches is answered 404.
    /// </summary>
    /// <param name="method">GET, POST, PUT, DELETE...</param>
    /// <param name="pattern">The path below <c>/api/v4/plugins/&lt;plugin&gt;/api/</c>.</param>
    /// <param name="handler">Called for each matching request.</param>
    /// <exception cref="ArgumentException">The pattern is malformed, or this plugin already maps it for that method.</exception>
    IDisposable Map(string method, string pattern, Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>> handler);

    /// <summary>
    /// As <see cref="Map"/>, but served at the API's root, <c>/api/v4/&lt;pattern&gt;</c>, for plugins that implement an
    /// API whose paths are fixed elsewhere (EMQX 4's <c>/api/v4/auth_username</c>, <c>/api/v4/acl</c>). Same patterns,
    /// same authentication; <see cref="PluginHttpRequest.Path"/> is the path below <c>/api/v4/</c>. A pattern that could
    /// match a path the management API itself serves, or one another plugin maps at the root for the same method, is
    /// refused, so a plugin can neither shadow the API nor take another plugin's paths; the management API's own
    /// endpoints always win. The registration ends when disposed or when the plugin stops; the paths then answer 404.
    /// Since SDK 2.1; the default implementation, for test doubles, throws.
    /// </summary>
    /// <param name="method">GET, POST, PUT, DELETE...</param>
    /// <param name="pattern">The path below <c>/api/v4/</c>, e.g. <c>auth_username/{username}</c>.</param>
    /// <param name="handler">Called for each matching request.</param>
    /// <exception cref="ArgumentException">
    /// The pattern is malformed, overlaps a path of the management API or another plugin's root endpoint, or this plugin
    /// already maps it for that method.
    /// </exception>
    IDisposable MapRoot(string method, string pattern, Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>> handler) =>
        throw new NotSupportedException("this host serves no plugin endpoints at the API root");
}

/// <summary>One request to a plugin's endpoint. Since SDK 1.5.</summary>
public sealed class PluginHttpRequest
{
    /// <summary>The HTTP method, upper case.</summary>
    public required string Method { get; init; }

    /// <summary>The path below the plugin's prefix (below <c>/api/v4/</c> for <see cref="IPluginHttp.MapRoot"/>), decoded (<c>users/alice</c>).</summary>
    public required string Path { get; init; }

    /// <summary>The pattern's <c>{name}</c> segments.</summary>
    public required IReadOnlyDictionary<string, string> RouteValues { get; init; }

    /// <summary>The query string's parameters (the first value of each).</summary>
    public required IReadOnlyDictionary<string, string> Query { get; init; }

    /// <summary>The request's Content-Type, if any.</summary>
    public string? ContentType { get; init; }

    /// <summary>The request body (at most 1 MB).</summary>
    public ReadOnlyMemory<byte> Body { get; init; }

    /// <summary>The body as UTF-8 text.</summary>
    public string BodyText => Encoding.UTF8.GetString(Body.Span);
}

/// <summary>What a plugin's endpoint answers. Since SDK 1.5.</summary>
/// <param name="StatusCode">The HTTP status.</param>
/// <param name="ContentType">The Content-Type of <paramref name="Body"/>.</param>
/// <param name="Body">The body.</param>
public sealed record PluginHttpResponse(int StatusCode, string ContentType, ReadOnlyMemory<byte> Body)
{
    /// <summary>A JSON answer; <paramref name="json"/> is sent as it is (serialize with System.Text.Json).</summary>
    public static PluginHttpResponse Json(string json, int statusCode = 200) =>
        new(statusCode, "application/json; charset=utf-8", Encoding.UTF8.GetBytes(json));

    /// <summary>A plain-text answer.</summary>
    public static PluginHttpResponse Text(string text, int statusCode = 200) =>
        new(statusCode, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(text));
}
