using Broker.PluginHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// EMQX 4's plugin endpoints over the <see cref="PluginManager"/>: <c>GET /plugins</c>, <c>GET /plugins/{name}</c>,
    /// <c>PUT /plugins/{name}/load|unload|reload</c>. Failures answer with the plugin host's message: 404 for an
    /// unknown plugin, 409 for one already loaded / not loaded, 400 for a plugin that cannot be loaded as it is
    /// (manifest, SDK version, configuration with file:line:key), 500 when its start failed.
    /// </summary>
    private static void MapPlugins(RouteGroupBuilder api, PluginManager plugins)
    {
        api.MapGet("/plugins", async () =>
        {
            var list = await plugins.ListAsync().ConfigureAwait(false);
            var views = new PluginView[list.Count];
            for (var i = 0; i < views.Length; i++)
                views[i] = PluginViewOf(list[i]);
            return Ok(views, ManagementJsonContext.Default.ApiResponsePluginViewArray);
        });
        api.MapGet("/plugins/{name}", async (string name) =>
        {
            foreach (var plugin in await plugins.ListAsync().ConfigureAwait(false))
            {
                if (plugin.Name == name)
                    return Ok(new[] { PluginViewOf(plugin) }, ManagementJsonContext.Default.ApiResponsePluginViewArray);
            }
            return Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"no plugin named '{name}'");
        });
        api.MapPut("/plugins/{name}/load", async (string name) => ResultOf(await plugins.LoadAsync(name).ConfigureAwait(false)));
        api.MapPut("/plugins/{name}/unload", async (string name) => ResultOf(await plugins.UnloadAsync(name).ConfigureAwait(false)));
        api.MapPut("/plugins/{name}/reload", async (string name) => ResultOf(await plugins.ReloadAsync(name).ConfigureAwait(false)));
    }

    private static IResult ResultOf(PluginResult result) => result.Error switch
    {
        PluginError.None => result.Plugin is { } plugin
            ? Ok(new[] { PluginViewOf(plugin) }, ManagementJsonContext.Default.ApiResponsePluginViewArray)
            : Results.Json(new ApiOk(), ManagementJsonContext.Default.ApiOk),
        PluginError.UnknownPlugin => Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, result.Message),
        PluginError.AlreadyLoaded or PluginError.NotLoaded => Error(StatusCodes.Status409Conflict, ApiCodes.BadParameter, result.Message),
        PluginError.StartFailed => Error(StatusCodes.Status500InternalServerError, ApiCodes.UnknownError, result.Message),
        _ => Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, result.Message),
    };

    private static PluginView PluginViewOf(PluginInfo plugin) => new()
    {
        Name = plugin.Name,
        Version = plugin.Version,
        Description = plugin.Description,
        Active = plugin.State == PluginState.Running,
        State = plugin.State.ToString().ToLowerInvariant(),
        Reason = plugin.Reason.Length == 0 ? null : plugin.Reason,
        Boot = plugin.StartsAtBoot,
        HookFailures = plugin.HookFailures,
        LeakedInstances = plugin.LeakedInstances,
    };
}
