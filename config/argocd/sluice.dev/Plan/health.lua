-- Argo CD health of a sluice.dev Plan (Lua 5.1, as Argo CD runs it).
-- Planning/Backfilling -> Progressing, Ready/Promoted/Superseded -> Healthy, Failed or
-- Stalled -> Degraded; a status older than the spec -> Progressing.
local hs = {}

local function condition(status, kind)
  if type(status.conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end


if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile the Plan"
  return hs
end
local status = obj.status
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end

local ready = condition(status, "Ready")
local phase = status.phase
if phase == "Ready" then
  hs.status = "Healthy"
  hs.message = "Ready to promote"
  if status.summary ~= nil and status.summary.changes ~= nil then
    hs.message = hs.message .. ": " .. tostring(status.summary.changes) .. " change(s)"
  end
elseif phase == "Promoted" then
  hs.status = "Healthy"
  hs.message = "Promoted"
elseif phase == "Superseded" then
  hs.status = "Healthy"
  hs.message = "Superseded by a newer plan"
elseif phase == "Failed" then
  hs.status = "Degraded"
  local failure = status.failure
  if failure ~= nil and failure.reason ~= nil then
    if failure.model ~= nil then
      hs.message = "Failed: " .. failure.model .. ": " .. failure.reason
    else
      hs.message = "Failed: " .. failure.reason
    end
  elseif ready ~= nil and ready.message ~= nil and ready.message ~= "" then
    hs.message = "Failed: " .. ready.message
  else
    hs.message = "Failed"
  end
elseif phase == "Backfilling" then
  hs.status = "Progressing"
  if status.backfill ~= nil and status.backfill.progress ~= nil then
    hs.message = "Backfilling: " .. status.backfill.progress .. " units done"
  else
    hs.message = "Backfilling"
  end
else
  -- Pending, Planning, or a phase this check does not know yet.
  hs.status = "Progressing"
  hs.message = phase
  if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
    hs.message = phase .. ": " .. ready.message
  end
end
return hs
