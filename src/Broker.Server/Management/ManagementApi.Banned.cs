using System.Net;
using Broker.Core.Hosting;
using Broker.Core.AccessControl;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>How long a ban lasts when the request gives no <c>until</c>: EMQX 4's five minutes.</summary>
    public static readonly TimeSpan DefaultBanDuration = TimeSpan.FromMinutes(5);

    /// <summary>9999-12-31T23:59:59Z, the last second <see cref="DateTimeOffset"/> holds.</summary>
    private const long MaxUnixSeconds = 253_402_300_799;

    /// <summary>
    /// EMQX 4's banned list: <c>GET /banned</c> (paged, the bans in force), <c>POST /banned</c> (adds or replaces a
    /// ban and disconnects the clients it matches now), <c>DELETE /banned/{as}/{who}</c> (404 if there is none). Times
    /// are Unix seconds, as in EMQX 4.
    /// </summary>
    private static void MapBanned(RouteGroupBuilder api, BrokerCore core)
    {
        api.MapGet("/banned", (HttpRequest request) =>
        {
            if (!TryPage(request, out var page, out var limit, out var error))
                return error;
            var bans = core.Access.Bans();
            bans.Sort(static (a, b) => a.As != b.As ? a.As.CompareTo(b.As) : string.CompareOrdinal(a.Who, b.Who));
            var slice = Slice(bans, page, limit, out var meta);
            var views = new BanView[slice.Count];
            for (var i = 0; i < views.Length; i++)
                views[i] = BanViewOf(slice[i]);
            return Ok(views, ManagementJsonContext.Default.ApiResponseBanViewArray, meta);
        });

        api.MapPost("/banned", async (HttpRequest request) =>
        {
            var (body, error) = await ReadJsonAsync(request, ManagementJsonContext.Default.BanRequest).ConfigureAwait(false);
            if (error is not null)
                return error;
            if (BanOf(body!, core.Status.Now, out var problem) is not { } ban)
                return Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, problem!);
            await core.Access.BanAsync(ban).ConfigureAwait(false);
            return Ok(BanViewOf(ban), ManagementJsonContext.Default.ApiResponseBanView);
        });

        api.MapDelete("/banned/{as}/{who}", (string @as, string who) =>
        {
            if (!BannedList.TryParseKind(@as, out var kind))
                return Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, $"'as' must be clientid, username or peerhost, not '{@as}'");
            return core.Access.Unban(kind, who)
                ? Results.Json(new ApiOk(), ManagementJsonContext.Default.ApiOk)
                : Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"no ban of {@as} '{who}'");
        });
    }

    /// <summary>The ban a request asks for, or null with <paramref name="problem"/> saying which field is wrong.</summary>
    private static Ban? BanOf(BanRequest request, DateTimeOffset now, out string? problem)
    {
        problem = null;
        if (!BannedList.TryParseKind(request.As, out var kind))
            problem = $"'as' must be clientid, username or peerhost, not '{request.As}'";
        else if (string.IsNullOrEmpty(request.Who))
            problem = "'who' is required";
        else if (kind == BanKind.Address && !IPAddress.TryParse(request.Who, out _))
            problem = $"'who' must be an IP address for a peerhost ban, not '{request.Who}'";
        if (problem is not null)
            return null;

        var atSeconds = request.At ?? now.ToUnixTimeSeconds();
        var untilSeconds = request.Until ?? atSeconds + (long)DefaultBanDuration.TotalSeconds;
        if (atSeconds is < 0 or > MaxUnixSeconds || untilSeconds is < 0 or > MaxUnixSeconds)
        {
            problem = "'at' and 'until' must be Unix times in seconds";
            return null;
        }
        var (at, until) = (DateTimeOffset.FromUnixTimeSeconds(atSeconds), DateTimeOffset.FromUnixTimeSeconds(untilSeconds));
        if (until <= now || until <= at)
        {
            problem = $"'until' ({untilSeconds}) must be later than now and than 'at'";
            return null;
        }
        return new Ban(kind, BannedList.Normalize(kind, request.Who!), request.Reason ?? "", request.By ?? "management api", at, until);
    }

    private static BanView BanViewOf(Ban ban) => new()
    {
        Who = ban.Who,
        As = BannedList.KindName(ban.As),
        Reason = ban.Reason,
        By = ban.By,
        At = ban.At.ToUnixTimeSeconds(),
        Until = ban.Until.ToUnixTimeSeconds(),
    };
}
