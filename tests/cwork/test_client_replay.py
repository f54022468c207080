"""Every example answer of the vendor's documentation, replayed through the client.

The bodies below are copied verbatim from cwork-api-v1.9.txt (raw strings: the bytes CWork
sends, invalid JSON included), served through ``httpx.MockTransport``. Each test asserts the
typed result an operator sees and the request the client sent: method, path (with CWork's real
typos), query, JSON body, ``Accept`` version header and Basic auth with the API key.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from cwork.client import CWorkClient, DocumentToSend
from cwork.errors import CWorkProtocolError, RemoteDeletionFailed
from cwork.models import MacroResult, SendResult, VersionFile

API_KEY = "7C1D3A52-API-KEY-OF-THE-DASHBOARD-USER"
BASE_URL = "http://cwork.test:8080"
ACCEPT = "application/json+v1.16"
NO_BODY = object()

# --- the documentation's example answers, verbatim ------------------------------------------

# GET /users/7
USER = r"""{
  "Handle": 3,
  "Login": "Operator",
  "Name": "Operator",
  "Mail": "operator@smcom.com",
  "Phone": "+33389280280",
  "Group": "Operators",
  "GroupID": 4,
  "Visible": false
}"""

# GET /users
USERS = r"""[
    {
        "Handle": 1,
        "Name": "Administrator",
        "Mail": "",
        "Phone": ,
        "Group": "Administrators",
        "GroupID": 1,
        "Visible": false
    },
    {
        "Handle": 4,
        "Name": "APIUser",
        "Mail": "",
        "Phone": ,
        "Group": "Administrators",
        "GroupID": 1,
        "Visible": false
    },
    {
        "Handle": 2,
        "Name": "Method",
        "Mail": "",
        "Phone": ,
        "Group": "Methods",
        "GroupID": 3,
        "Visible": false
    },
    {
        "Handle": 3,
        "Name": "Operator",
        "Mail": "",
        "Phone": ,
        "Group": "Operators",
        "GroupID": 4,
        "Visible": false
    }
]"""

# GET /groups/1
GROUP = r"""{
  "Groups": [
    {
      "GroupId": "1",
      "GroupName": "Administrateurs",
      "CanManageTransfertHistory": "1",
      "CanCreateDoc": "1",
      "CanEditDoc": "1",
      "CanModifyProperty": "1",
      "CanProtectDoc": "1",
      "CanArchiveDoc": "1",
      "CanDelDoc": "1",
      "CanDelVersion": "1",
      "CanRenameDoc": "1",
      "CanChangeIndexVer": "1",
      "CanChangeComVer": "1",
      "CanChangeStatusVer": "1",
      "CanCertificatDoc": "1",
      "CanImportDoc": "1",
      "CanExportDoc": "1",
      "CanCreateFolder": "1",
      "CanDeleteFolder": "1",
      "CanRenameFolder": "1",
      "CanCreateAliasFolder": "1",
      "CanModifColName": "1",
      "CanSendDoc": "1",
      "CanCustomSendDoc": "1",
      "CanCopyDoc": "1",
      "CanAliasDoc": "1",
      "CanFusionDoc": "1",
      "CanReceiveDoc": "1",
      "CanCompareDoc": "1",
      "CanChangeCncOpt": "1",
      "CanChangeMainOpt": "1",
      "CanChangePass": "1",
      "CanShowHisto": "1",
      "DoNotShowVer": "0",
      "CanAddDoc": "1",
      "CanShowMaintenance": "1",
      "CanActivDeactivCom": "1",
      "CanChangLang": "1",
      "CanShowTrace": "1",
      "CanRestrictDoc": "1",
      "CanQuitMoteur": "1",
      "CanQuickSave": "0",
      "ReOpenVer": "0",
      "CanManageMoteur": "1",
      "CanRestartMoteur": "1",
      "CanShowSpeChar": "1",
      "CanShowCumul": "1",
      "CanAddHisto": "1",
      "CanDelHisto": "1",
      "CanChangeHisto": "1",
      "CanRedimHisto": "1",
      "CanExportHisto": "1",
      "CanChangeState": "1",
      "CanForceAutoState": "1",
      "CanShowOfOp": "1",
      "CanEditOf": "1",
      "CanAddOf": "1",
      "CanDeleteOf": "1",
      "CanEditOp": "1",
      "CanAddOp": "1",
      "CanDeleteOp": "1",
      "CanAddOpPeriod": "1",
      "CanEditOpPeriod": "1",
      "CanDeleteOpPeriod": "1",
      "CanShowPeriod": "1",
      "CanShowProdOf": "1",
      "CanShowCal": "1",
      "CanEditCal": "1",
      "CanShowReport": "1",
      "CanEditReport": "1",
      "ScenarioName": "",
      "StatusFilter": "",
      "StatusCanChange": "",
      "StationAllow": "",
      "StatusNotCertif": "",
      "UseCwo": "1",
      "UseCti": "1"
    }
  ]
}"""

# GET /groups: the doc prints the very same body as for /groups/1
GROUPS = GROUP

# GET /stations/7
STATION = r"""{
  "Handle": 7,
  "Name": "HSC70",
  "Description": "",
  "Disabled": false,
  "DNCMode": true,
  "MDCMode": true,
  "Workshop": "Building A",
  "DNCgroup": "HSCGroup",
  "MDCGroups": [
    "Milling",
    "Line4"
  ]
}"""

# GET /stations/7/hasimg
HASIMG = r"""{
  "Hasimage": true
}"""

# GET /stations
STATIONS = r"""[
  {
    "Handle": 7,
    "Name": "HSC70",
    "Description": "",
    "Disabled": false,
    "DNCMode": true,
    "MDCMode": true,
    "Workshop": "Building A",
    "DNCgroup": "HSCGroup",
    "MDCGroups": [
      "Milling",
      "Line4"
    ]
  },
  {
    "Handle": 8,
    "Name": "DMU50",
    "Description": "",
    "Disabled": false,
    "DNCMode": true,
    "MDCMode": true,
    "Workshop": "Building A",
    "DNCGroup": "DMU50",
    "MDCGroups": [
      "Line3"
    ]
  }
]"""

# GET /stations/7/kpi
KPI = r"""{
  "Times": {
    "AT": 4678489,
    "OT": 2278489,
    "PPT": 578489,
    "RT": 438489,
    "NRT": 278489,
    "FPT": 118484,
    "FT": 22455,
    "MTBF": 21134,
    "MTTR": 5678
  },
  "Rates": {
    "TEEP": 0.45,
    "GEE": 0.6,
    "OEE": 0.68,
    "Performance": 0.9,
    "Quality": 0.95,
    "Availability": 0.8,
    "Requisition": 0.6,
    "Load": 0.8,
    "Involvement": 0.9,
    "HardwareAvailability": 0.98
  }
}"""

# GET /stations/7/runningprograms
RUNNING_PROGRAMS = r"""[
    {
        "Name" : "PGM0001",
        "Context" : "BOUCHON_AR",
        "StartDate" : "2018-08-28T08:06:20.000Z",
        "EndDate" : "2018-08-28T:09:20.000Z"
    },
    {
        "Name" : "PGM0014",
        "Context" : "COLONNE",
        "StartDate" : "2018-08-29T10:00:20.000Z",
        "EndDate" : "2018-08-29T11:31:19.000Z",
    }
]"""

# GET /stations/7/selectedprograms
SELECTED_PROGRAMS = r"""[
    {
        "Name" : "PGM0001",
        "Context" : "BOUCHON_AR",
        "StartDate" : "2018-08-28T08:06:20.000Z",
        "EndDate" : "2018-08-28T:09:20.000Z"
    },
    {
        "Name" : "PGM0014",
        "Context" : "COLONNE",
        "StartDate" : "2018-08-29T10:00:20.000Z",
        "EndDate" : "2018-08-29T11:31:19.000Z",
    }
]"""

# GET /stations/7/alarms
ALARMS = r"""[
    {
        "Code" : "0015",
        "Message" : "TOO MANY SIMULTANEOUS AXIS",
        "StartDate" : "2018-08-28T08:06:20.000Z",
        "EndDate" : "2018-08-28T12:09:20.000Z"
    },
    {
        "Code" : "0060",
        "Message" : "SEQUENCE NUMBER NOT FOUND",
        "StartDate" : "2018-08-29T09:00:34.000Z",
        "EndDate" : "2018-08-29T11:31:19.000Z",
    },
    {
        "Code" : "5010",
        "Message" : "END OF RECORD",
        "StartDate" : "2018-09-29T10:00:45.000Z",
        "EndDate" : "2018-09-29T15:01:11.000Z",
    }
]"""

# POST /stations/4/send/ (example 1)
SEND_SYNC = r"""[]"""

# POST /stations/4/send/ (example 2, asynchronous)
SEND_ASYNC = r"""{
  "GUID": "{FFB963F8-DADF-4127-939D-D7267F110137}",
  "TimeTag": "03/09/2024 11:42:22",
  "Status": "0: File Sent "
}"""

# POST /stations/4/multisend/
MULTISEND = r"""[]"""

# POST /stations/4/status_history
STATUS_HISTORY = r"""{
  "State": {
    "Handle": 0,
    "Name": "Production",
    "Color": "#87D37C",
    "OEECategory": 4,
    "ParentHandle": null,
    "CloseDay": false,
    "ProdPercent": true,
    "UsePercent": true
  },
  "LastTop": "2019-06-19T14:41:25.000Z",
  "Comment": "Restarting production"
}"""

# POST /stations/4/replace_curent_state
REPLACE_CURRENT_STATE = r"""{
  "State": {
    "Handle": 0,
    "Name": "Production",
    "Color": "#87D37C",
    "OEECategory": 4,
    "ParentHandle": null,
    "CloseDay": false,
    "ProdPercent": true,
    "UsePercent": true
  },
  "LastTop": "2019-06-19T14:41:25.000Z",
  "Comment": "Restarting production"
}"""

# POST /stations/4/force_auto_state
FORCE_AUTO_STATE = r"""{
  "State": {
    "Handle": 0,
    "Name": "Production",
    "Color": "#87D37C",
    "OEECategory": 4,
    "ParentHandle": null,
    "CloseDay": false,
    "ProdPercent": true,
    "UsePercent": true
  },
  "LastTop": "2019-06-19T14:41:25.000Z",
  "Comment": "Restarting production"
}"""

# GET /states/4
STATE = r"""{
  "Handle": 4,
  "Name": "Disengagement",
  "Color": "#808080",
  "OEECategory": 1,
  "ParentHandle": null,
  "CloseDay": true,
  "ProdPercent": false,
  "UsePercent": false
}"""

# GET /states
STATES = r"""[
  {
    "Handle": 0,
    "Name": "Production",
    "Color": "#008000",
    "OEECategory": 4,
    "ParentHandle": null,
    "CloseDay": false,
    "ProdPercent": true,
    "UsePercent": true
  },
  {
    "Handle": 1,
    "Name": "Breakdown",
    "Color": "#FF0000",
    "OEECategory": 2,
    "ParentHandle": null,
    "CloseDay": false,
    "ProdPercent": false,
    "UsePercent": true
  },
  {
    "Handle": 2,
    "Name": "Setting",
    "Color": "#0000FF",
    "OEECategory": 2,
    "ParentHandle": null,
    "CloseDay": false,
    "ProdPercent": false,
    "UsePercent": true
  },
  {
    "Handle": 3,
    "Name": "Waiting",
    "Color": "#FFFF00",
    "OEECategory": 3,
    "ParentHandle": null,
    "CloseDay": false,
    "ProdPercent": false,
    "UsePercent": true
  },
  {
    "Handle": 4,
    "Name": "Disengagement",
    "Color": "#808080",
    "OEECategory": 1,
    "ParentHandle": null,
    "CloseDay": true,
    "ProdPercent": false,
    "UsePercent": false
  }
]"""

# GET /station_statuses/4 (with its stray sss})
STATION_STATUS = r"""{
    "Reference": "C138568-304",
    "Order": "588558",
    "Job": "30",
    "JobCycleTime": "5894",
    "PartCount": "50",
    "State": {
        "Handle": 2,
        "Name": "Setting",
        "Color": "#0000FF",
        "OEECategory": 2,
        "ParentHandle": null,
        "CloseDay": false,
        "ProdPercent": false,
        "UsePercent": true
        sss},
    "LastTop": "2015-10-29T16:58:00.000+01:00",
    "Comment": "Setting for next job (588558-30)",
    "Alarms": [
        {
            "Code": "0139",
            "Message": "CANNOT CHANGE PMC CONTROL AXIS",
            "StartDate": "2018-07-31T09:08:20.000+01:00"
        },
        {
            "Code": "0146",
            "Message": "ILLEGAL USE OF G-CODE",
            "StartDate": "2018-07-31T10:09:05.000+01:00"
        }
    ],
    "RunningProgram": {
        "Name": "PGM001"
    },
    "SelectedProgram": {
        "Name": "PGM001-2"
    },
    "TotalParts": 892,
    "PartsSinceReset": 50
}"""

# GET /stations/4/returnCNCProtocol
PROTOCOL = r"""{
  "message": "FTP"
}"""

# GET /tops?station=1&...&limit=2&page=1
TOPS = r"""{
  "Has_more": true,
  "Tops": [
    {
      "topidentifier": 0,
      "topcnchandlefield": 0,
      "topstatehandlefield": 3,
      "topstartdatefield": "2021-06-16T13:58:00.000Z",
      "topcommentfield": "TOP 239998",
      "topenddatefield": "2021-06-16T13:59:00.000Z",
      "topdurationfield": 60
    },
    {
      "topidentifier": 1,
      "topcnchandlefield": 0,
      "topstatehandlefield": 4,
      "topstartdatefield": "2021-06-16T13:59:00.000Z",
      "topcommentfield": "TOP 239999",
      "topenddatefield": "2021-06-16T14:00:00.000Z",
      "topdurationfield": 60
    }
  ]
}"""

# POST /ResetStationPartCount/4
RESET_PART_COUNT = r"""[]"""

# GET /documents/4
DOCUMENT = r"""{
  "DocumentId": 7,
  "DocumentIdAlias": 0,
  "Reference": "HSC70",
  "Extension": "MPF",
  "Folder": "",
  "StationId": 17,
  "DisplayStatus": "VALIDATED",
  "DisplayIndex": "A/5",
  "DisplaySize": 13453,
  "Emergency": 2,
  "CDate": "2015-06-28T17:19:00.000Z",
  "MDate": "2015-06-30T17:00:07.000Z",
  "Custom1": "foo",
  "Custom2": "bar",
  "Custom3": "alpha",
  "Custom4": "beta",
  "Custom5": "omega",
  "Protected": true,
  "Archived": false
}"""

# GET /documents?reference=HSC80&...
DOCUMENTS = r"""{
"Has_more" : false,
"Documents" : [
                {
                    "DocumentId": 7,
                    "DocumentIdAlias" : 0,
                    "Reference": "HSC80",
                    "Extension": "MPF",
                    "Folder": "",
                    "StationId": 17,
                    "DisplayStatus": "VALIDATED",
                    "DisplayIndex": "A/5",
                    "DisplaySize": 13453,
                    "Emergency": 2,
                    "CDate": "2015-06-28T17:19:00.000Z",
                    "MDate": "2015-06-30T17:00:07.000Z",
                    "Custom1": "foo",
                    "Custom2": "bar",
                    "Custom3": "alpha",
                    "Custom4": "beta",
                    "Custom5": "omega",
                    "Protected": true,
                    "Archived": false
                },
                {
                    "DocumentId": 8,
                    "DocumentIdAlias" : 7,
                    "Reference": "HSC80",
                    "Extension": "MPF",
                    "Folder": "random-folder\",
                    "StationId": 17,
                    "DisplayStatus": "TESTING",
                    "DisplayIndex": "B/2",
                    "DisplaySize": 1453,
                    "Emergency": 0,
                    "CDate": "2015-06-28T17:19:00.000Z",
                    "MDate": "2015-06-30T17:00:07.000Z",
                    "Custom1": "foo",
                    "Custom2": "bar",
                    "Custom3": "alpha",
                    "Custom4": "beta",
                    "Custom5": "omega",
                    "Protected": false,
                    "Archived": false
                }
            ]
        }"""

# GET /documents/customFields
CUSTOM_FIELDS = r"""{
  "docnamefield": "Reference",
  "docdescriptionfield": "Description",
  "doctitlefield": "Title",
  "docsubjectfield": "Subject",
  "doccategoryfield": "Category",
  "docindicefield": "Manual Index",
  "doccncfield": "CNC",
  "docfolderfield": "Folder",
  "docextfield": "Extension",
  "docstatusfield": "Status",
  "docprimaryindexfield": "Index",
  "doccncauthorizedfield": "CNC Authorized",
  "docfilesize": "Size",
  "docpkaliasfield": "Alias",
  "docprotectfield": "Protected",
  "docarchivedfield": "Archived",
  "docisattachment": "has an Attachment",
  "docspecialflagfield": "Special Flag",
  "doccdatefield": "Creation date",
  "docmdatefield": "Edit date",
  "docfilesizeValidfield": "Size"
}"""

# POST /documents (201, with its impossible date)
CREATED_DOCUMENT = r"""{
  "DocumentId": 7,
  "Reference": "HSC70",
  "Extension": "MPF",
  "Folder": "",
  "StationId": 17,
  "DisplayStatus": "",
  "DisplayIndex": "",
  "DisplaySize": 0,
  "Emergency": 0,
  "CDate": "2015-06-38T17:19:00.000Z",
  "MDate": "2015-06-38T17:19:00.000Z",
  "Custom1": "foo",
  "Custom2": "bar",
  "Custom3": "alpha",
  "Custom4": "beta",
  "Custom5": "omega",
  "Protected": false,
  "Archived": false
}"""

# GET /documents/27/versions/38?include_file=true
VERSION = r"""{
  "VersionId": 38,
  "DocumentId": 27,
  "Status": "VALIDATED",
  "PrimaryIndex": "B",
  "SecondaryIndex": "9",
  "CDate": "2015-06-28T17:19:00.000Z",
  "MDate": "2015-06-30T17:00:07.000Z",
  "RXDate": "2015-05-30T17:00:07.000Z",
  "TXDate": "2015-06-21T17:00:07.000Z",
  "Comment": "foo",
  "Size": 15898,
  "File": {
    "url": "rGBV84pC3a",
    "md5": "60D48FC210A6AF24F9845DBF3645623BFDC793AB"
  }
}"""

# GET /documents/27/versions/38/download?json=false (application/text)
DOWNLOAD = r"""G00 X70.0 Z2.0;
G42;
G70 P100 Q200;
G00 X70.0 Z5.0;
G53 X0.0 Z-210.0 M09;
"""

# GET /documents/27/versions/38/certify (application/text)
CERTIFY = r"""{
    {
      "Comments":"Validating by CAPI",
      "NewStatus":"VALIDATED",
      "VersionId":45 // Contains the edited or added version identifier (depends on the used scenario)
      }
}"""  # noqa: E501

# GET /documents/27/versions
VERSIONS = r"""[
  {
    "VersionId": 38,
    "DocumentId": 27,
    "Status": "VALIDATED",
    "PrimaryIndex": "B",
    "SecondaryIndex": "9",
    "CDate": "2015-06-28T17:19:00.000Z",
    "MDate": "2015-06-30T17:00:07.000Z",
    "RXDate": "2015-05-30T17:00:07.000Z",
    "TXDate": "2015-06-21T17:00:07.000Z",
    "Comment": "foo",
    "Size": 15898,
    "File": null
  },
  {
    "VersionId": 39,
    "DocumentId": 27,
    "Status": "TESTING",
    "PrimaryIndex": "B",
    "SecondaryIndex": "10",
    "CDate": "2015-06-29T17:19:00.000Z",
    "MDate": "2015-06-30T17:00:07.000Z",
    "RXDate": "2015-05-30T17:00:07.000Z",
    "TXDate": "2015-06-21T17:00:07.000Z",
    "Comment": "bar",
    "Size": 15695,
    "File": null
  }
]"""

# POST /documents/27/versions (201, with md5)
SUBMITTED_WITH_MD5 = r"""{
  "VersionId": 38,
  "DocumentId": 27,
  "Status": "VALIDATED",
  "PrimaryIndex": "B",
  "SecondaryIndex": "9",
  "CDate": "2015-06-28T17:19:00.000Z",
  "MDate": "2015-06-30T17:00:07.000Z",
  "RXDate": "2015-05-30T17:00:07.000Z",
  "TXDate": "2015-06-21T17:00:07.000Z",
  "Comment": "my new version",
  "Size": 15898,
  "File": null
}"""

# POST /documents/27/versions (201, without md5)
SUBMITTED_WITHOUT_MD5 = r"""{
  "VersionId": 38,
  "DocumentId": 27,
  "Status": "VALIDATED",
  "PrimaryIndex": "B",
  "SecondaryIndex": "9",
  "CDate": "2015-06-28T17:19:00.000Z",
  "MDate": "2015-06-30T17:00:07.000Z",
  "RXDate": "2015-05-30T17:00:07.000Z",
  "TXDate": "2015-06-21T17:00:07.000Z",
  "Comment": "",
  "Size": 15898,
  "File": null
}"""

# GET /orders/3 (one order wrapped in a list)
ORDER = r"""[
  {
    "OrderId": 3,
    "Name": "Order 3",
    "CreationDate": "2023-07-05T11:05:48.000Z",
    "Description": "This is a description for the order 3",
    "PartReference": "1234",
    "Client": "Client1234",
    "CurrentState": -1,
    "Valid": 1,
    "Archived": 0
  }
]"""

# GET /orders
ORDERS = r"""[
  {
    "OrderId": 1,
    "Name": "Order 1",
    "CreationDate": "2023-07-12T09:42:08.000Z",
    "Description": "This is a description for the order 1",
    "PartReference": "5678",
    "Client": "Client1234",
    "CurrentState": -1,
    "Valid": 1,
    "Archived": 0
  },
  {
    "OrderId": 2,
    "Name": "Order 2",
    "CreationDate": "2023-07-12T09:43:34.000Z",
    "Description": "This is a description for the order 2",
    "PartReference": "9123",
    "Client": "Client1234",
    "CurrentState": -1,
    "Valid": 1,
    "Archived": 0
  },
  {
    "OrderId": 3,
    "Name": "Order 3",
    "CreationDate": "2023-07-05T11:05:48.000Z",
    "Description": "This is a description for the order 3",
    "PartReference": "1234",
    "Client": "Client1234",
    "CurrentState": -1,
    "Valid": 1,
    "Archived": 0
  }
]"""

# GET /operations/3 (wrapped in a list, trailing comma)
OPERATION = r"""[
      {
          "OperationId": 3,
          "OrderId": 2,
          "Name": "HyperOperation 2",
          "CreationDate": "2023-07-12T09:48:25.000Z",
          "Description": "Operation for the part 1234",
          "CNCId": 2,
          "DocumentId": 0,
          "CurrentState": -1,
          "PartsToMake": 460,
          "PartsMade": 12,
          "PartsPerCycle": 4,
          "CycleTime": 1200
      },
  ]"""

# GET /operations?cnc=1&order=2 (trailing commas)
OPERATIONS = r"""[
    {
        "OperationId": 2,
        "OrderId": 2,
        "Name": "HyperOperation",
        "CreationDate": "2023-07-12T09:48:25.000Z",
        "Description": "Operation for the part 1234",
        "CNCId": 1,
        "DocumentId": 0,
        "CurrentState": -1,
        "PartsToMake": 460,
        "PartsMade": 34,
        "PartsPerCycle": 8,
        "CycleTime": 3200
    },
    {
          "OperationId": 3,
          "OrderId": 2,
          "Name": "HyperOperation 2",
          "CreationDate": "2023-07-12T09:48:25.000Z",
          "Description": "Operation for the part 1234",
          "CNCId": 2,
          "DocumentId": 0,
          "CurrentState": -1,
          "PartsToMake": 460,
          "PartsMade": 12,
          "PartsPerCycle": 4,
          "CycleTime": 68000
      },

]"""

# POST /macros/DeleteRemoteRange/3 (FOCAS, 200)
MACRO_DONE = r"""{
  "MacroStatus": {
    "StatusCode": 0,
    "StatusMessage": "Document deleted"
  }
}"""

# POST /macros/DeleteRemoteRange/3 (FOCAS, 500)
MACRO_FAILED = r"""{
  "MacroStatus": {
    "StatusCode": 3,
    "StatusMessage": "3: Impossible to delete the document on the destination folder"
  },
  "FileDeleteStatusDetail": {
    "FileName": "O1",
    "ErrorCode": 13,
    "ErrorMessage": "EW_REJECT",
    "ErrorMessageMeaning": "Error(CNC execution rejection)"
  }
}"""

# POST /macros/DeleteRemoteRange/3 (other protocols, 200)
MACRO_OTHER = r"""[]"""

# The station status example with its stray "sss" taken out: what a sane server would send.
STATION_STATUS_REPAIRED = STATION_STATUS.replace("        sss},\n", "        },\n")


# --- replaying ------------------------------------------------------------------------------

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


class Replay:
    """A MockTransport handler answering from a script, one answer per request, in order."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer


def body(text: str | bytes, status: int = 200, content_type: str = "application/json"):
    content = text.encode("utf-8") if isinstance(text, str) else text
    return httpx.Response(status, content=content, headers={"Content-Type": content_type})


def replay(*answers: Answer) -> tuple[CWorkClient, Replay]:
    handler = Replay(*answers)
    client = CWorkClient(
        BASE_URL,
        API_KEY,
        server_version="1.16",
        transport=httpx.MockTransport(handler),
        sleep=lambda seconds: None,
    )
    return client, handler


def check_request(
    request: httpx.Request,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    json_body: object = NO_BODY,
) -> None:
    assert request.method == method
    assert request.url.path == path
    assert dict(request.url.params) == (query or {})
    assert len(request.url.params.multi_items()) == len(query or {})
    assert request.headers["Accept"] == ACCEPT
    token = base64.b64encode(f"{API_KEY}:".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {token}"
    if json_body is NO_BODY:
        assert request.content == b""
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content) == json_body


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- users and groups -----------------------------------------------------------------------


def test_users_with_empty_phone_values():
    client, server = replay(body(USERS))
    users = client.users()
    [request] = server.requests
    check_request(request, "GET", "/users")
    assert users.rejected == []
    assert [(u.handle, u.name, u.group, u.group_id) for u in users] == [
        (1, "Administrator", "Administrators", 1),
        (4, "APIUser", "Administrators", 1),
        (2, "Method", "Methods", 3),
        (3, "Operator", "Operators", 4),
    ]
    assert {u.phone for u in users} == {""}  # "Phone": , -> nothing known
    assert {u.mail for u in users} == {""}
    assert {u.visible for u in users} == {False}
    assert all(u.problems == () for u in users)


def test_user():
    client, server = replay(body(USER))
    user = client.user(7)
    check_request(server.requests[0], "GET", "/users/7")
    assert user.handle == 3
    assert user.login == "Operator"
    assert user.mail == "operator@smcom.com"
    assert user.phone == "+33389280280"
    assert user.group == "Operators"
    assert user.group_id == 4
    assert user.visible is False


@pytest.mark.parametrize(
    ("call", "text", "path"),
    [
        pytest.param(lambda c: c.groups()[0], GROUPS, "/groups", id="groups"),
        pytest.param(lambda c: c.group(1), GROUP, "/groups/1", id="group"),
    ],
)
def test_groups_flags_sent_as_strings_are_booleans(call, text, path):
    client, server = replay(body(text))
    group = call(client)
    check_request(server.requests[0], "GET", path)
    assert group.group_id == 1
    assert group.name == "Administrateurs"
    assert group.can("ChangeState") is True
    assert group.can("CanForceAutoState") is True
    assert group.can("QuickSave") is False  # "0"
    assert group.can("FlyToTheMoon") is False  # unknown permission: not granted
    assert group.permissions["DoNotShowVer"] is False
    assert group.permissions["ReOpenVer"] is False
    assert all(isinstance(v, bool) for v in group.permissions.values())
    assert "GroupId" not in group.permissions
    assert "GroupName" not in group.permissions
    assert group.uses_dnc is True
    assert group.uses_prod is True
    assert group.scenario_name == ""
    assert group.status_filter == ()
    assert group.station_allow == ()
    assert group.problems == ()


# --- stations -------------------------------------------------------------------------------


def test_stations_with_both_dnc_group_spellings():
    client, server = replay(body(STATIONS))
    stations = client.stations()
    check_request(server.requests[0], "GET", "/stations")
    assert [(s.handle, s.name, s.dnc_group, s.mdc_groups) for s in stations] == [
        (7, "HSC70", "HSCGroup", ("Milling", "Line4")),  # "DNCgroup"
        (8, "DMU50", "DMU50", ("Line3",)),  # "DNCGroup"
    ]
    assert all(s.extra == {} for s in stations)  # neither spelling is left unread
    assert all(s.workshop == "Building A" and s.disabled is False for s in stations)
    assert all(s.dnc_mode and s.mdc_mode for s in stations)


def test_station():
    client, server = replay(body(STATION))
    station = client.station(7)
    check_request(server.requests[0], "GET", "/stations/7")
    assert station.handle == 7
    assert station.name == "HSC70"
    assert station.dnc_group == "HSCGroup"
    assert station.mdc_groups == ("Milling", "Line4")
    assert station.description == ""


def test_station_has_image():
    client, server = replay(body(HASIMG))
    assert client.station_has_image(7) is True
    check_request(server.requests[0], "GET", "/stations/7/hasimg")


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png"])
def test_station_image_bytes_and_content_type(content_type):
    picture = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" if "png" in content_type else b"\xff\xd8\xff"
    client, server = replay(body(picture, content_type=content_type))
    image = client.station_image(7)
    check_request(server.requests[0], "GET", "/stations/7/img", query={"json": "false"})
    assert image.content_type == content_type
    assert image.data == picture


def test_station_image_that_is_not_an_image_is_refused():
    client, _ = replay(body('{"Hasimage": false}'))
    with pytest.raises(CWorkProtocolError) as caught:
        client.station_image(7)
    assert caught.value.excerpt.startswith('{"Hasimage"')


def test_station_kpi_times_are_ints_and_rates_floats():
    client, server = replay(body(KPI))
    start = datetime(2015, 6, 20, 19, 19, tzinfo=timezone(timedelta(hours=2)))
    kpi = client.station_kpi(7, start, utc(2015, 6, 30, 17, 19))
    check_request(
        server.requests[0],
        "GET",
        "/stations/7/kpi",
        query={"dstart": "2015-06-20T17:19:00.000Z", "dend": "2015-06-30T17:19:00.000Z"},
    )
    times, rates = kpi.times, kpi.rates
    assert (times.at, times.ot, times.ppt, times.rt, times.nrt) == (
        4678489,
        2278489,
        578489,
        438489,
        278489,
    )
    assert (times.fpt, times.ft, times.mtbf, times.mttr) == (118484, 22455, 21134, 5678)
    assert all(
        type(getattr(times, n)) is int for n in ("at", "ot", "ppt", "rt", "nrt", "mtbf", "mttr")
    )
    assert rates.oee == pytest.approx(0.68)
    assert rates.teep == pytest.approx(0.45)
    assert rates.hardware_availability == pytest.approx(0.98)
    assert (rates.performance, rates.quality, rates.availability) == (0.9, 0.95, 0.8)
    assert (rates.requisition, rates.load, rates.involvement) == (0.6, 0.8, 0.9)
    assert type(rates.gee) is float


def test_station_kpi_without_end_sends_only_the_start():
    client, server = replay(body(KPI))
    client.station_kpi(7, utc(2015, 6, 20, 17, 19))
    assert dict(server.requests[0].url.params) == {"dstart": "2015-06-20T17:19:00.000Z"}


def test_a_naive_date_is_refused_before_sending():
    client, server = replay(body(KPI))
    with pytest.raises(ValueError, match="aware"):
        client.station_kpi(7, datetime(2015, 6, 20, 17, 19))
    assert server.requests == []


@pytest.mark.parametrize(
    ("method", "text", "path"),
    [
        ("running_programs", RUNNING_PROGRAMS, "/stations/7/runningprograms"),
        ("selected_programs", SELECTED_PROGRAMS, "/stations/7/selectedprograms"),
    ],
)
def test_programs_with_an_impossible_end_date_keep_the_record(method, text, path, caplog):
    client, server = replay(body(text))
    caplog.set_level(logging.WARNING, logger="cwork.client")
    programs = getattr(client, method)(7, utc(2018, 8, 28, 8, 30), utc(2018, 8, 29, 10, 30))
    check_request(
        server.requests[0],
        "GET",
        path,
        query={"dstart": "2018-08-28T08:30:00.000Z", "dend": "2018-08-29T10:30:00.000Z"},
    )
    assert programs.rejected == []
    first, second = programs
    # "EndDate": "2018-08-28T:09:20.000Z" -> kept, end unknown, and the reason is noted.
    assert (first.name, first.context, first.start) == (
        "PGM0001",
        "BOUCHON_AR",
        utc(2018, 8, 28, 8, 6, 20),
    )
    assert first.end is None
    assert len(first.problems) == 1
    assert "EndDate" in first.problems[0]
    assert "2018-08-28T:09:20.000Z" in first.problems[0]
    # The other record (with its trailing comma) is whole.
    assert (second.name, second.context) == ("PGM0014", "COLONNE")
    assert second.start == utc(2018, 8, 29, 10, 0, 20)
    assert second.end == utc(2018, 8, 29, 11, 31, 19)
    assert second.problems == ()
    assert any("EndDate" in r.getMessage() for r in caplog.records)


def test_station_alarms():
    client, server = replay(body(ALARMS))
    alarms = client.station_alarms(7, utc(2018, 8, 28, 10, 30), utc(2018, 8, 29, 14, 30))
    check_request(
        server.requests[0],
        "GET",
        "/stations/7/alarms",
        query={"dstart": "2018-08-28T10:30:00.000Z", "dend": "2018-08-29T14:30:00.000Z"},
    )
    assert [(a.code, a.message) for a in alarms] == [
        ("0015", "TOO MANY SIMULTANEOUS AXIS"),  # codes keep their leading zeros
        ("0060", "SEQUENCE NUMBER NOT FOUND"),
        ("5010", "END OF RECORD"),
    ]
    assert alarms[0].start == utc(2018, 8, 28, 8, 6, 20)
    assert alarms[2].end == utc(2018, 9, 29, 15, 1, 11)
    assert not any(a.active for a in alarms)
    assert all(a.problems == () for a in alarms)


def test_station_protocol():
    client, server = replay(body(PROTOCOL))
    assert client.station_protocol(4) == "FTP"
    check_request(server.requests[0], "GET", "/stations/4/returnCNCProtocol")


# --- sending documents ----------------------------------------------------------------------


def test_send_synchronous_answers_nothing():
    client, server = replay(body(SEND_SYNC))
    result = client.send_document(
        4,
        "1500",
        "MPF",
        source_folder="folder/path",
        destination_folder="random",
        override=True,
        destination_folder_mode="override",
    )
    assert result is None
    check_request(
        server.requests[0],
        "POST",
        "/stations/4/send/",  # the trailing slash is part of CWork's path
        json_body={
            "DocumentName": "1500",
            "DocExtension": "MPF",
            "SourceFolder": "folder/path",
            "DestinationFolder": "random",
            "Override": True,
            "DestinationFolderMode": "override",
        },
    )


def test_send_asynchronous_answers_a_send_result():
    client, server = replay(body(SEND_ASYNC))
    result = client.send_document(
        4,
        "prg1",
        "cnc",
        source_folder="ImportFAO/",
        asynchronous=True,
        wait_before_status_ms=5000,
        override=True,
    )
    check_request(
        server.requests[0],
        "POST",
        "/stations/4/send/",
        json_body={
            "DocumentName": "prg1",
            "DocExtension": "cnc",
            "SourceFolder": "ImportFAO/",
            "AsynchronousMode": True,
            "WaitBeforQuerySendStatus": 5000,  # sic
            "Override": True,
        },
    )
    assert isinstance(result, SendResult)
    assert result.guid == "{FFB963F8-DADF-4127-939D-D7267F110137}"
    assert result.time_tag == "03/09/2024 11:42:22"
    assert result.status == "0: File Sent "


def test_multisend():
    client, server = replay(body(MULTISEND))
    client.multisend(
        4,
        [
            DocumentToSend("1500", "MPF", "folder/path"),
            DocumentToSend("prg1", "cnc", "folder/path"),
        ],
    )
    check_request(
        server.requests[0],
        "POST",
        "/stations/4/multisend/",
        json_body={
            "Documents": [
                {"DocumentName": "1500", "DocExtension": "MPF", "SourceFolder": "folder/path"},
                {"DocumentName": "prg1", "DocExtension": "cnc", "SourceFolder": "folder/path"},
            ]
        },
    )


# --- states and their changes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "text", "path"),
    [
        ("change_state", STATUS_HISTORY, "/stations/4/status_history"),
        ("replace_current_state", REPLACE_CURRENT_STATE, "/stations/4/replace_curent_state"),
    ],
)
def test_state_change_answers(method, text, path):
    client, server = replay(body(text))
    change = getattr(client, method)(4, 0, "Restarting production")
    check_request(
        server.requests[0],
        "POST",
        path,
        json_body={"State": 0, "Comment": "Restarting production"},
    )
    assert change.state.handle == 0
    assert change.state.name == "Production"
    assert change.state.color == "#87D37C"
    assert change.state.oee_category == 4
    assert change.state.parent_handle is None
    assert (change.state.close_day, change.state.prod_percent, change.state.use_percent) == (
        False,
        True,
        True,
    )
    assert change.last_top == utc(2019, 6, 19, 14, 41, 25)
    assert change.comment == "Restarting production"


def test_state_change_without_comment_sends_only_the_state():
    client, server = replay(body(STATUS_HISTORY))
    client.change_state(4, 0)
    assert json.loads(server.requests[0].content) == {"State": 0}


def test_force_auto_state_sends_an_empty_object():
    client, server = replay(body(FORCE_AUTO_STATE))
    change = client.force_auto_state(4)
    check_request(server.requests[0], "POST", "/stations/4/force_auto_state", json_body={})
    assert change.state.name == "Production"
    assert change.last_top == utc(2019, 6, 19, 14, 41, 25)


def test_reset_part_count():
    client, server = replay(body(RESET_PART_COUNT))
    client.reset_part_count(4, 12)  # typed to return None: the request is what is checked
    check_request(
        server.requests[0], "POST", "/ResetStationPartCount/4", json_body={"PartCount": 12}
    )


def test_state():
    client, server = replay(body(STATE))
    state = client.state(4)
    check_request(server.requests[0], "GET", "/states/4")
    assert (state.handle, state.name, state.color, state.oee_category) == (
        4,
        "Disengagement",
        "#808080",
        1,
    )
    assert (state.close_day, state.prod_percent, state.use_percent) == (True, False, False)


def test_states():
    client, server = replay(body(STATES))
    states = client.states()
    check_request(server.requests[0], "GET", "/states")
    assert [(s.handle, s.name, s.color, s.oee_category) for s in states] == [
        (0, "Production", "#008000", 4),
        (1, "Breakdown", "#FF0000", 2),
        (2, "Setting", "#0000FF", 2),
        (3, "Waiting", "#FFFF00", 3),
        (4, "Disengagement", "#808080", 1),
    ]
    assert [s.close_day for s in states] == [False, False, False, False, True]


# --- live status ----------------------------------------------------------------------------


def test_station_status_example_with_stray_sss_is_a_protocol_error():
    client, server = replay(body(STATION_STATUS))
    with pytest.raises(CWorkProtocolError) as caught:
        client.station_status(4)
    assert caught.value.excerpt.startswith('{\n    "Reference": "C138568-304",')
    assert caught.value.endpoint == "station_status"
    check_request(server.requests[0], "GET", "/station_statuses/4")
    assert len(server.requests) == 1  # garbage is not asked for twice


def test_station_status_repaired_example():
    client, server = replay(body(STATION_STATUS_REPAIRED))
    status = client.station_status(4)
    check_request(server.requests[0], "GET", "/station_statuses/4")
    assert status.station_id == 4  # the per-station answer carries no Handle: filled in
    assert (status.reference, status.order, status.job) == ("C138568-304", "588558", "30")
    assert status.job_cycle_time == 5894  # "5894"
    assert status.job_cycle == timedelta(seconds=5894)
    assert status.part_target == 50  # "PartCount": "50"
    assert (status.state.handle, status.state.name, status.state.color) == (2, "Setting", "#0000FF")
    assert status.last_top == datetime(2015, 10, 29, 16, 58, tzinfo=timezone(timedelta(hours=1)))
    assert status.comment == "Setting for next job (588558-30)"
    assert [(a.code, a.message, a.active) for a in status.alarms] == [
        ("0139", "CANNOT CHANGE PMC CONTROL AXIS", True),
        ("0146", "ILLEGAL USE OF G-CODE", True),
    ]
    assert status.alarms[0].start == datetime(
        2018, 7, 31, 9, 8, 20, tzinfo=timezone(timedelta(hours=1))
    )
    assert status.running_program == "PGM001"
    assert status.selected_program == "PGM001-2"
    assert status.total_parts == 892
    assert status.parts_since_reset == 50
    assert status.problems == ()


# --- history --------------------------------------------------------------------------------

TOPS_START = datetime(2021, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1)))  # 1609455600
TOPS_END = utc(2022, 5, 31, 22, 0)  # 1654034400


def test_tops_page():
    client, server = replay(body(TOPS))
    page = client.tops_page(1, TOPS_START, TOPS_END, limit=2, page=1)
    check_request(
        server.requests[0],
        "GET",
        "/tops",
        query={
            "station": "1",
            "startdate": "1609455600",
            "enddate": "1654034400",
            "limit": "2",
            "page": "1",
        },
    )
    assert page.has_more is True
    assert [(t.position, t.station_id, t.state_handle, t.comment) for t in page.items] == [
        (0, 0, 3, "TOP 239998"),
        (1, 0, 4, "TOP 239999"),
    ]
    first = page.items[0]
    assert first.start == utc(2021, 6, 16, 13, 58)
    assert first.end == utc(2021, 6, 16, 13, 59)
    assert first.duration == 60


def test_tops_page_sends_before_and_after_and_caps_the_limit():
    client, server = replay(body(TOPS))
    client.tops_page(1, TOPS_START, TOPS_END, before=1, after=2, limit=5000)
    params = dict(server.requests[0].url.params)
    assert params["nbtopbefore"] == "1"
    assert params["nbtopafter"] == "2"
    assert params["limit"] == "3000"


def _tops_page(page: int, has_more: bool) -> httpx.Response:
    tops = [
        {
            "topidentifier": i,
            "topcnchandlefield": 1,
            "topstatehandlefield": page,
            "topstartdatefield": f"2021-06-16T1{page}:0{i}:00.000Z",
            "topcommentfield": f"page {page} top {i}",
            "topenddatefield": f"2021-06-16T1{page}:0{i + 1}:00.000Z",
            "topdurationfield": 60,
        }
        for i in range(2)
    ]
    return body(json.dumps({"Has_more": has_more, "Tops": tops}))


def test_iter_tops_walks_three_pages_lazily():
    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return _tops_page(page, has_more=page < 3)

    client, server = replay(answer)
    tops = client.iter_tops(1, TOPS_START, TOPS_END, page_size=10_000)
    assert server.requests == []  # nothing asked before the first top is wanted
    seen = []
    requests_made = []
    for top in tops:
        seen.append(top.comment)
        requests_made.append(len(server.requests))
    assert seen == [f"page {p} top {i}" for p in (1, 2, 3) for i in range(2)]
    # Page 2 is asked for only once page 1 has been consumed, and so on.
    assert requests_made == [1, 1, 2, 2, 3, 3]
    assert [r.url.params["page"] for r in server.requests] == ["1", "2", "3"]
    assert {r.url.params["limit"] for r in server.requests} == {"3000"}  # capped
    assert {r.url.params["station"] for r in server.requests} == {"1"}
    assert {r.url.params["startdate"] for r in server.requests} == {"1609455600"}


def test_iter_tops_stopped_early_asks_for_no_more_pages():
    client, server = replay(lambda request: _tops_page(1, has_more=True))
    tops = client.iter_tops(1, TOPS_START, TOPS_END)
    next(tops)
    next(tops)
    assert len(server.requests) == 1
    assert "limit" not in server.requests[0].url.params  # CWork's default page size


# --- documents and versions -----------------------------------------------------------------


def test_documents_page_with_the_backslash_folder(caplog):
    client, server = replay(body(DOCUMENTS))
    caplog.set_level(logging.WARNING, logger="cwork.client")
    page = client.documents_page(
        reference="HSC80",
        extension="MPF",
        station_id=17,
        limit=50,
        page=1,
        recycle_bin="exclude",
        include_group=False,
    )
    check_request(
        server.requests[0],
        "GET",
        "/documents",
        query={
            "reference": "HSC80",
            "extension": "MPF",
            "station": "17",
            "limit": "50",
            "page": "1",
            "recycle_bin": "exclude",
            "include_group": "false",
        },
    )
    assert page.has_more is False
    first, second = page.items
    assert (first.document_id, first.alias_of, first.folder) == (7, None, "")
    assert (second.document_id, second.alias_of, second.folder) == (8, 7, "random-folder\\")
    assert (second.station_id, second.display_status, second.display_index) == (
        17,
        "TESTING",
        "B/2",
    )
    assert second.display_size == 1453
    assert second.created == utc(2015, 6, 28, 17, 19)
    assert second.custom == ("foo", "bar", "alpha", "beta", "omega")
    assert any("backslash" in r.getMessage() for r in caplog.records)


def test_documents_limit_is_capped_at_200():
    client, server = replay(body(DOCUMENTS))
    client.documents_page(limit=1000)
    assert server.requests[0].url.params["limit"] == "200"


def test_document():
    client, server = replay(body(DOCUMENT))
    document = client.document(4)
    check_request(server.requests[0], "GET", "/documents/4")
    assert document.document_id == 7
    assert document.alias_of is None
    assert (document.reference, document.extension, document.station_id) == ("HSC70", "MPF", 17)
    assert (document.display_status, document.display_index, document.display_size) == (
        "VALIDATED",
        "A/5",
        13453,
    )
    assert document.emergency == 2
    assert document.created == utc(2015, 6, 28, 17, 19)
    assert document.modified == utc(2015, 6, 30, 17, 0, 7)
    assert (document.protected, document.archived) == (True, False)


def test_document_custom_fields():
    client, server = replay(body(CUSTOM_FIELDS))
    fields = client.document_custom_fields()
    check_request(server.requests[0], "GET", "/documents/customFields")
    assert len(fields.labels) == 21
    assert fields.labels["docnamefield"] == "Reference"
    assert fields.labels["docindicefield"] == "Manual Index"
    assert fields.labels["docisattachment"] == "has an Attachment"


def test_create_document_with_an_impossible_date_in_the_answer():
    client, server = replay(body(CREATED_DOCUMENT, status=201))
    document = client.create_document(
        "HSC70",
        17,
        extension="MPF",
        folder="",
        custom=("foo", "bar", "alpha", "beta", "omega"),
        protected=False,
        archived=False,
    )
    check_request(
        server.requests[0],
        "POST",
        "/documents",
        json_body={
            "Reference": "HSC70",
            "StationId": 17,
            "Extension": "MPF",
            "Folder": "",
            "Custom1": "foo",
            "Custom2": "bar",
            "Custom3": "alpha",
            "Custom4": "beta",
            "Custom5": "omega",
            "Protected": False,
            "Archived": False,
        },
    )
    assert document.document_id == 7
    assert document.reference == "HSC70"
    assert document.created is None  # "2015-06-38T17:19:00.000Z"
    assert document.modified is None
    assert len(document.problems) == 2
    assert any("CDate" in p and "2015-06-38" in p for p in document.problems)


@pytest.mark.parametrize(
    ("kwargs", "path", "query"),
    [
        (
            {"document_id": 27, "include_file": True},
            "/documents/27/versions/38",
            {"include_file": "true"},
        ),
        ({}, "/versions/38", {}),
    ],
)
def test_version_with_its_file(kwargs, path, query):
    client, server = replay(body(VERSION))
    version = client.version(38, **kwargs)
    check_request(server.requests[0], "GET", path, query=query)
    assert (version.version_id, version.document_id, version.status) == (38, 27, "VALIDATED")
    assert (version.primary_index, version.secondary_index) == ("B", "9")
    assert version.created == utc(2015, 6, 28, 17, 19)
    assert version.received == utc(2015, 5, 30, 17, 0, 7)
    assert version.sent == utc(2015, 6, 21, 17, 0, 7)
    assert (version.comment, version.size) == ("foo", 15898)
    assert version.file == VersionFile("rGBV84pC3a", "60D48FC210A6AF24F9845DBF3645623BFDC793AB")


def test_versions():
    client, server = replay(body(VERSIONS))
    versions = client.versions(27)
    check_request(server.requests[0], "GET", "/documents/27/versions")
    assert [(v.version_id, v.status, v.secondary_index, v.comment) for v in versions] == [
        (38, "VALIDATED", "9", "foo"),
        (39, "TESTING", "10", "bar"),
    ]
    assert [v.file for v in versions] == [None, None]
    assert [v.size for v in versions] == [15898, 15695]


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [({"document_id": 27}, "/documents/27/versions/38/download"), ({}, "/versions/38/download")],
)
def test_download_version_raw_text(kwargs, path):
    client, server = replay(body(DOWNLOAD, content_type="application/text"))
    content = client.download_version(38, **kwargs)
    check_request(server.requests[0], "GET", path, query={"json": "false"})
    assert content == DOWNLOAD.encode()
    assert content.startswith(b"G00 X70.0 Z2.0;\nG42;")


def test_certify_is_a_get_with_a_json_body_and_a_double_brace_answer():
    client, server = replay(body(CERTIFY, content_type="application/text"))
    certification = client.certify_version(
        38, "VALIDATED", document_id=27, comments="Validating by CAPI"
    )
    check_request(
        server.requests[0],
        "GET",
        "/documents/27/versions/38/certify",
        json_body={"Comments": "Validating by CAPI", "NewStatus": "VALIDATED"},
    )
    assert certification.comments == "Validating by CAPI"
    assert certification.new_status == "VALIDATED"
    assert certification.version_id == 45


def test_certify_direct_path():
    client, server = replay(body(CERTIFY, content_type="application/text"))
    client.certify_version(38, "VALIDATED")
    check_request(
        server.requests[0], "GET", "/versions/38/certify", json_body={"NewStatus": "VALIDATED"}
    )


def test_submit_version_with_md5():
    client, server = replay(body(SUBMITTED_WITH_MD5, status=201))
    version = client.submit_version(
        27,
        "rGBV84pC38",
        md5="60D48FC210A6AF24F9845DBF3645623BFDC793AB",
        comment="my new version",
    )
    check_request(
        server.requests[0],
        "POST",
        "/documents/27/versions",
        json_body={
            "File": "rGBV84pC38",
            "Md5": "60D48FC210A6AF24F9845DBF3645623BFDC793AB",
            "Comment": "my new version",
        },
    )
    assert (version.version_id, version.document_id, version.comment) == (38, 27, "my new version")
    assert version.file is None


def test_submit_version_without_md5():
    client, server = replay(body(SUBMITTED_WITHOUT_MD5, status=201))
    version = client.submit_version(27, "rGBV84pC38")
    check_request(
        server.requests[0], "POST", "/documents/27/versions", json_body={"File": "rGBV84pC38"}
    )
    assert version.comment == ""


def test_delete_version_and_document_answer_an_empty_body():
    client, server = replay(body(b""))
    client.delete_version(1, 10)  # both typed to return None: the requests are checked
    client.delete_document(1, 3)
    check_request(
        server.requests[0], "POST", "/stations/1/delete_version", json_body={"VersionId": "10"}
    )
    check_request(
        server.requests[1], "POST", "/stations/1/delete_document", json_body={"DocumentId": 3}
    )


# --- orders and operations ------------------------------------------------------------------


def test_orders():
    client, server = replay(body(ORDERS))
    orders = client.orders()
    check_request(server.requests[0], "GET", "/orders")
    assert [(o.order_id, o.name, o.part_reference) for o in orders] == [
        (1, "Order 1", "5678"),
        (2, "Order 2", "9123"),
        (3, "Order 3", "1234"),
    ]
    assert {(o.valid, o.archived, o.current_state, o.client) for o in orders} == {
        (True, False, -1, "Client1234")
    }
    assert orders[1].created == utc(2023, 7, 12, 9, 43, 34)


def test_order_wrapped_in_a_list():
    client, server = replay(body(ORDER))
    order = client.order(3)
    check_request(server.requests[0], "GET", "/orders/3")
    assert (order.order_id, order.name) == (3, "Order 3")
    assert order.description == "This is a description for the order 3"
    assert order.created == utc(2023, 7, 5, 11, 5, 48)


def test_operations_with_trailing_commas():
    client, server = replay(body(OPERATIONS))
    operations = client.operations()
    check_request(server.requests[0], "GET", "/operations")
    assert operations.rejected == []
    assert [(o.operation_id, o.order_id, o.station_id, o.cycle_time) for o in operations] == [
        (2, 2, 1, 3200),
        (3, 2, 2, 68000),
    ]
    assert [(o.parts_to_make, o.parts_made, o.parts_per_cycle) for o in operations] == [
        (460, 34, 8),
        (460, 12, 4),
    ]


@pytest.mark.parametrize(
    ("kwargs", "query"),
    [({"station_id": 1}, {"cnc": "1"}), ({"order_id": 2}, {"order": "2"})],
)
def test_operations_filters(kwargs, query):
    client, server = replay(body(OPERATIONS))
    client.operations(**kwargs)
    check_request(server.requests[0], "GET", "/operations", query=query)


def test_operations_by_station_and_order_sends_the_order_and_filters_the_station():
    client, server = replay(body(OPERATIONS))
    operations = client.operations(station_id=1, order_id=2)
    # CWork would ignore cnc when order is given: only order is sent...
    check_request(server.requests[0], "GET", "/operations", query={"order": "2"})
    # ... and the station filter is applied here, so both hold.
    assert [(o.operation_id, o.station_id) for o in operations] == [(2, 1)]


def test_operation_wrapped_in_a_list():
    client, server = replay(body(OPERATION))
    operation = client.operation(3)
    check_request(server.requests[0], "GET", "/operations/3")
    assert (operation.operation_id, operation.order_id, operation.name) == (
        3,
        2,
        "HyperOperation 2",
    )
    assert (operation.station_id, operation.document_id, operation.current_state) == (2, 0, -1)
    assert operation.cycle_time == 1200
    assert operation.created == utc(2023, 7, 12, 9, 48, 25)


# --- macros ---------------------------------------------------------------------------------

DELETE_RANGE_REQUEST = {
    "MinRange": 1000,
    "MaxRange": 4000,
    "TargetFolder": "folder/path",
    "Prefix": "O",
}


def test_delete_remote_range_done():
    client, server = replay(body(MACRO_DONE))
    result = client.delete_remote_range(3, 1000, 4000, target_folder="folder/path", prefix="O")
    check_request(
        server.requests[0],
        "POST",
        "/macros/DeleteRemoteRange/3",
        json_body=DELETE_RANGE_REQUEST,
    )
    assert isinstance(result, MacroResult)
    assert result.ok
    assert (result.status_code, result.status_message) == (0, "Document deleted")
    assert result.failure is None


def test_delete_remote_range_other_protocols_answer_nothing():
    client, _ = replay(body(MACRO_OTHER))
    result = client.delete_remote_range(3, 1000, 4000)
    assert result.ok
    assert result.status_code is None


def test_delete_remote_range_failure_raises_with_details():
    client, server = replay(body(MACRO_FAILED, status=500))
    with pytest.raises(RemoteDeletionFailed) as caught:
        client.delete_remote_range(3, 1000, 4000, target_folder="folder/path", prefix="O")
    error = caught.value
    assert len(server.requests) == 1  # a write is never sent twice
    assert error.code == 2025
    assert error.http_status == 500
    assert error.endpoint == "delete_remote_range"
    assert error.message == "3: Impossible to delete the document on the destination folder"
    details = error.details
    assert isinstance(details, MacroResult)
    assert not details.ok
    assert details.status_code == 3
    assert details.failure == {
        "FileName": "O1",
        "ErrorCode": 13,
        "ErrorMessage": "EW_REJECT",
        "ErrorMessageMeaning": "Error(CNC execution rejection)",
    }
